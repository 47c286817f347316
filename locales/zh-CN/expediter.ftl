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
