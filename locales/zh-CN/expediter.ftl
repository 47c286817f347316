# expediter 的简体中文用语。这里的每条消息在 en/expediter.ftl 中也有（有测试保证两份目录的键一致）。

## 时长（催办理由中的 {age}、摘要、页面）：取最大的两个单位。
age-days = { $n }天
age-hours = { $n }小时
age-minutes = { $n }分钟
age-seconds = { $n }秒
age-separator = {""}

## 计数。
reminders-sent = 已催办 { $n } 次
tasks-waiting = { $n } 个任务等待中

## 计划中的状态（URL、--json 和 API 中仍用英文代码）。
state-due = 现在该催
state-capped = 今日催办已达上限
state-waiting = 等待中
state-deferred = 非工作时间
state-unconfirmed = 核对中
state-silenced = 已静默
state-away = 不在
state-reminders_over = 已催满，仍未处理
state-not_reminded = 不催办（已排除）
state-moved_away = 已转出
state-no_rule = 无规则
state-unwatched = 未关注

## 控制台的菜单与语言切换。
nav-overview = 概览
nav-tasks = 任务
nav-silences = 静默
nav-away = 不在
nav-report = 报告
nav-rules = 规则
nav-teams = 团队
nav-audit = 审计
sign-out = 退出
switch-language = English

## 摘要卡片。
digest-title = { $name }：{ $tasks } 个待办任务，涉及 { $people } 人，最久已等待 { $oldest }
digest-nothing = { $name }：没有待办任务
digest-person = { $who } — { $n } 个任务
digest-reminded = 已催办 { $n } 次
digest-escalated = 已升级
digest-silenced = 已静默
digest-away = 不在，至 { $until }
digest-more = ……还有 { $n } 个
digest-open = 在控制台中打开
digest-every = expediter · 全部待办任务
digest-min-age = expediter · 已等待至少 { $age } 的任务

## 概览。
overview-needs-you = 需要你处理
overview-needs-you-none = 现在没有需要你处理的任务：没有已催满仍未处理的，也没有已升级的。
overview-needs-you-more = 任务列表中还有 { $n } 个
overview-pending = 待处理：{ $n } 项任务分配
overview-escalated = 其中已升级：{ $n }
overview-away-now = 现在不在：{ $names }
overview-nobody-away = 现在没有人不在。
col-task = 任务
col-assignee = 处理人
col-state = 状态
col-waited = 已等待
snooze-1d = 静默 1 天
state-escalated = 已升级

## 任务列表与单个任务。
col-label = 标题
col-age = 已等待
col-rule = 规则
col-sent = 已催
col-next-why = 下一次 / 原因
filter-assignee = 处理人
filter-team = 团队
filter-rule = 规则
filter-state = 状态
filter-text = 文本
filter-any = 全部
filter-anyone = 所有人
filter-go = 筛选
filter-clear = 清除
tasks-matching = 共 { $n } 项
task-title = 任务 { $id }
task-assignees = 处理人
task-history = 历史
task-silence = 静默
overview-instance = 本实例：
overview-last-cycle = 上一轮：
overview-no-cycle = 本实例启动以来还没有
overview-next-tick = 下一轮：
overview-never = 不再运行
overview-top-assignees = 积压最多的处理人
overview-top-rules = 积压最多的规则（流程）
col-due = 该催
col-pending = 待处理
col-longest = 最久等待
overview-as-of = 数据时间：
overview-keeps-current = ；本页会自动刷新。
role-active = 运行中（主）
role-standby = 待命（备）

## 原因（plan 与控制台中用平实的话说）。
why-never = 日历再次开放时
why-due = 第 { $n } 次催办自 { $at } 起到期，下一轮发出
why-capped = 自 { $at } 起到期；此人今日催办已达上限，{ $goes } 发出
why-waiting = 第 { $n } 次催办将于 { $goes } 发出
why-deferred = 第 { $n } 次催办已到期，现在是非工作时间，{ $goes } 发出
why-unconfirmed = { $at } 的列表中没有它；下一次列表也没有则视为完成
why-silenced = 静默至 { $at }
why-away = 不在，至 { $at }
why-reminders_over = 已催办 { $n } 次，已催满，仍未处理，不再催办
why-not_reminded = 其规则不催办（已排除）
why-moved_away = 已于 { $at } 转出，不再催办此人
why-no_rule = 没有匹配的规则
why-unwatched = 已不在关注名单中，不会催办

## 任务页：基本信息与历史。
task-initiator = 发起人
task-started = 发起时间
task-first-seen = 首次看到
task-finished = 完成
task-not-given = 飞书未提供
task-pending = 否：待处理
task-moved-away-at = { $at } 已转走（不确定是否已办完）
task-no-longer-pending = 已不在其待办中：
task-since = 自 { $at }
task-moved-since = { $at } 转走
history-first-seen = 首次出现在待办列表中
history-reminder = 催办 { $who }
history-cc = 抄送升级给 { $people }，关于 { $who }
history-chat = 拉群升级，邀请 { $people }，关于 { $who }
history-transfer = 从 { $who } 转交给 { $people }
history-add = 在 { $who } 之外加签 { $people }
history-by = ，发送人
history-rule = ，规则 { $rule }
history-feishu = 飞书
history-silenced = { $by } 静默了 { $who }，至 { $until }
history-removed = ；{ $at } 由 { $by } 解除
history-finished = 已完成
history-moved-away = 已转走（已无受关注的人持有；不确定是否已办完）
outcome-sent = 已发送
outcome-failed = 失败
outcome-refused = 被拒绝
outcome-unknown = 结果未知（可能已送达飞书）
outcome-pending = 进行中
every-assignee = 全部处理人
form-who = 对谁
form-for = 时长
form-or-until = 或直至
form-from = 开始
form-reason = 原因
form-deputy = 代理人
form-none = 无
form-silence = 静默
form-save = 保存
form-remove = 解除
form-show = 显示
form-over-last = 最近
form-by = 按

## 静默与离开。
silences-active = 生效中的静默。
silences-every = 全部静默。
silences-all-link = 全部静默（含已结束的）
silences-active-link = 只看生效中的
col-id = 编号
col-who = 对象
col-until = 截止
col-reason = 原因
col-made-by = 创建人
col-removed = 解除
col-from = 开始
col-deputy = 代理人
removed-by = { $at }，由 { $by }
who-unknown = 某人
ran-out = 已到期
away-intro = 某人离开期间，不会向其催办或升级；离开结束时，到期的催办只发一次。
away-add-deputy = 期间到期的每个待办，会为其加签代理人，只一次。
away-transfer = 期间到期的每个待办，会转交给代理人，只一次。
away-current-link = 只看当前和将来的
away-past-link = 含已结束的
away-over = 已结束
away-mark = 登记离开

## 审计记录。
audit-acts = 共 { $n } 项操作。
col-when = 时间
col-address = 来源
col-what = 操作
col-teams = 团队
col-detail = 详情
audit-command-line = 命令行
act-sign_in = 登录
act-sign_out = 退出
act-session_ended = 会话结束
act-silence_added = 新增静默
act-silence_removed = 解除静默
act-away_added = 登记离开
act-away_removed = 取消离开
act-team_saved = 保存团队版本
act-team_rolled_back = 回滚团队版本
form-team = 团队

## 规则页。
rules-held = 各规则当前的待办
rules-its-tasks = 查看其待办（最先到期在前）
rules-words = 规则说明

## 团队。
teams-intro = 每个团队自己的人员、规则和摘要，由团队负责人在这里编辑。配置文件的 [[teams]] 指定谁是负责人；团队文档的内容从下一轮起生效。
col-team = 团队
col-version = 版本
col-saved = 保存时间
col-by = 保存人
col-comment = 说明
teams-none-yet = 尚无
teams-edit = 编辑
team-title = 团队 { $team }
team-diff-title = 团队 { $team }：版本 { $from } → { $to }
team-back = 返回团队
team-same = 两个版本相同。
team-not-in-force = 本团队的最新版本未生效——其成员仍会被列出，但不会被催办：
team-no-document = 尚无团队文档：人员和规则来自配置文件。
team-version = 版本 { $version }
team-latest-is = （最新为 { $latest }）
team-saved-by = ，{ $at } 由 { $by } 保存：
team-keys = 使用配置文件的 [[users]] 和 [[rules]] 键：users 填用户 id，rules 选择本团队的人；操作人、抄送和转交对象只能是本团队的人、发起人或管理员允许的人。摘要填写管理员设置的 webhook（webhook = "NAME"）。
team-stale = 未保存：在你开始编辑后，已有人保存了版本 { $current }。下面是它相对你的草稿的改动，请基于它重新编辑。
team-not-saved = 未保存：
team-preview = 预览
team-preview-pairs = 本团队共 { $pairs } 个待处理分配，其中 { $changed } 个有变化。
team-preview-tick = 下一轮（{ $tick }）：催办 { $rb } → { $ra }，升级 { $eb } → { $ea }。
col-next-reminder = 下次催办
team-comment = 说明（必填）
team-save-as = 保存为版本 { $version }
team-restores = （恢复版本 { $version }）
team-diff = 对比
team-against-latest = 与最新版对比
team-roll-back = 回滚到此版本

## 登录。
sign-in = 登录
sign-in-feishu = 使用飞书登录
sign-in-token = 控制台令牌
sign-in-bad-token = 令牌不正确。
sign-in-bad-link = 该登录链接已用过或已过期；请重新获取（expediter console link）。
sign-in-stale-form = 登录表单已过期或不属于本控制台，请重试。
sign-in-failed = 登录失败。
sign-in-hint = 也可以在服务器上用此命令获取一次性链接：
sign-in-link-once = 此链接只能登录一次。

## 报表（控制台页面、report --html 和命令行表格）。
report-title = 催办有效吗？
report-span = { $since } 至 { $until }，按{ $by }。
report-by-rule = 规则
report-by-team = 团队
report-by-user = 人
report-total = 合计
report-reminders = 催办次数
report-tasks = 被催办任务
report-done = 催办后完成
report-median = 完成用时中位数
report-p90 = 完成用时 p90
report-within-24h = 24 小时内完成
report-escalations = 升级
report-moves = 转交
report-move-median = 转交后完成中位数
report-backlog = 积压 <1天 / 1–3天 / 3–7天 / ≥7天
report-chart-time = 从首次催办到完成的用时（中位数；浅色：p90）
report-chart-backlog = 今日积压（按等待时长）
report-chart-response = 按处理人：被催办后 24 小时内完成的比例
report-nothing = 暂无数据。
report-under-1d = 不到 1 天
report-1-3d = 1–3 天
report-3-7d = 3–7 天
report-over-7d = 7 天及以上
report-moved-away = { $n } 个被转交的任务转给了不在关注名单中的人，已离开所有关注列表：视为转走，不确定是否办完，不计入"完成"。

## 命令行表格（plan、silence list、away list）。
cli-id = 编号
cli-task = 任务
cli-assignee = 处理人
cli-age = 等待
cli-rule = 规则
cli-sent = 已催
cli-status = 状态
cli-next-why = 下一步 / 原因
cli-label = 标题
cli-until = 截止
cli-state = 状态
cli-by = 创建人
cli-reason = 原因
cli-who = 对象
cli-from = 开始
cli-deputy = 代理人
cli-active = 生效中
cli-run-out = 已到期
cli-removed = { $at } 由 { $by } 解除
cli-to-come = 未开始
cli-away-now = 离开中
cli-no-silences = 没有静默。
cli-no-away = 没有离开记录。
cli-not-seen = 尚未看到

## 角色（页头显示）。
role-admin = 管理员
role-nobody = 无角色
role-lead = { $teams } 的负责人
role-viewer = { $teams } 的查看者
plan-working-age = { $age }（工作时间 { $work }）

## 升级（plan 与控制台）。
esc-cc = 抄送
esc-chat = 拉群
esc-move = 转交
esc-and = 和
esc-not-yet = 连续 { $after } 次催办未处理后升级（已催 { $sent } 次）
esc-unconfirmed = 最后一次催办后，列表仍显示未处理时升级
esc-waiting = { $at } 升级
esc-waiting-never = 升级在等待，但日历不会再开放
esc-deferred = 已到升级时间，非工作时间，{ $at } 发出
esc-deferred-never = 已到升级时间，但日历不会再开放
esc-due = 已到{ $by }升级时间，下一轮发出
esc-done = 已于 { $at } 通过{ $by }升级

## plan 的汇总。
plan-none = 还没有记录任何待办。运行 `expediter once` 列出它们。
plan-summary = 共 { $n } 个待处理分配：该催 { $due }，等待 { $waiting }，非工作时间 { $deferred }，已达上限 { $capped }，已静默 { $silenced }
plan-summary-away = ，不在 { $n }

## 应用机器人的摘要卡片。
card-title = { $name }：{ $n } 个待处理
card-needs-you = 需要你处理：{ $n } 个
card-snooze-1d = 暂停 1 天
card-snooze-3d = 暂停 3 天
card-open = 打开
card-undo = 撤销
card-snoozed = 已由 { $by } 暂停 { $span }
card-done = 已暂停 { $span }：{ $task }（{ $who }）。
card-undone = 已撤销暂停。
card-already = 已经处理过了。
card-sign-in = 请先登录一次控制台再试：这里还不认识你的飞书账号。
card-not-yours = 只有管理员或此人所在团队的负责人可以这样做。
card-failed = 没有成功：{ $why }
card-working = 正在处理，卡片稍后更新。
card-preview-title = 摘要 { $name } 的机器人卡片
card-preview-intro = 应用机器人现在会发送的内容，和聊天中显示的一样（按钮只在飞书中可用）。
card-why-internal = 内部出错，守护进程的日志里有原因
card-why-event = 这次点击缺少事件编号或点击人
card-why-database = 数据库没有响应
