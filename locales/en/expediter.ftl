# expediter's words in English. Every message here exists in zh-CN/expediter.ftl too (a test
# holds the two catalogs to the same keys).

## Ages ({age} in reminder text, digests, pages): the two largest units.
age-days = { $n }d
age-hours = { $n }h
age-minutes = { $n }m
age-seconds = { $n }s
age-separator = {" "}

## Counts.
reminders-sent = { $n ->
    [one] one reminder sent
   *[other] { $n } reminders sent
}
tasks-waiting = { $n ->
    [one] one task waiting
   *[other] { $n } tasks waiting
}

## Plan states, as a lead reads them (codes stay in URLs, --json and the API).
state-due = due now
state-capped = held by today's cap
state-waiting = waiting
state-deferred = outside working hours
state-unconfirmed = being checked
state-silenced = silenced
state-away = away
state-reminders_over = all reminders sent, still waiting
state-not_reminded = never reminded (excluded)
state-moved_away = moved away
state-no_rule = no rule
state-unwatched = not watched

## The console's menu and language switch.
nav-overview = Overview
nav-tasks = Tasks
nav-silences = Silences
nav-away = Away
nav-report = Report
nav-rules = Rules
nav-teams = Teams
nav-audit = Audit
sign-out = Sign out
switch-language = 中文

## Digest cards.
digest-title = { $name }: { $tasks } pending { $tasks ->
    [one] task
   *[other] tasks
} with { $people } { $people ->
    [one] person
   *[other] people
}, the oldest { $oldest }
digest-nothing = { $name }: nothing pending
digest-person = { $who } — { $n } { $n ->
    [one] task
   *[other] tasks
}
digest-reminded = reminded { $n }×
digest-escalated = escalated
digest-silenced = silenced
digest-away = away until { $until }
digest-more = … and { $n } more
digest-open = Open in the console
digest-every = expediter · every pending task
digest-min-age = expediter · tasks at least { $age } old

## The overview.
overview-needs-you = Needs you
overview-needs-you-none = Nothing needs you now: no task has had every reminder and is still waiting, and none is escalated.
overview-needs-you-more = { $n } more in the task list
overview-pending = Pending: { $n } task { $n ->
    [one] assignment
   *[other] assignments
}
overview-escalated = of which escalated: { $n }
overview-away-now = Away now: { $names }
overview-nobody-away = Nobody is away now.
col-task = task
col-assignee = assignee
col-state = state
col-waited = waited
snooze-1d = Snooze 1d
state-escalated = escalated

## The task list and a task.
col-label = label
col-age = age
col-rule = rule
col-sent = sent
col-next-why = next / why
filter-assignee = Assignee
filter-team = Team
filter-rule = Rule
filter-state = State
filter-text = Text
filter-any = any
filter-anyone = anyone
filter-go = Filter
filter-clear = clear
tasks-matching = { $n } matching
task-title = Task { $id }
task-assignees = Assignees
task-history = History
task-silence = Silence it
overview-instance = This instance is
overview-last-cycle = Last cycle:
overview-no-cycle = none since this instance started
overview-next-tick = Next tick:
overview-never = never
overview-top-assignees = Most overdue assignees
overview-top-rules = Most overdue rules (flows)
col-due = due
col-pending = pending
col-longest = longest wait
overview-as-of = As of
overview-keeps-current = ; this page keeps itself current.
role-active = active
role-standby = standby

## Why, in a lead's words (plan, the console).
why-never = when the calendar opens again
why-due = reminder { $n } due since { $at }; it goes at the next cycle
why-capped = due since { $at }; today's limit for this person is reached, it goes { $goes }
why-waiting = reminder { $n } goes { $goes }
why-deferred = reminder { $n } is due, outside working hours; it goes { $goes }
why-unconfirmed = not in the listing at { $at }; finished if the next listing agrees
why-silenced = silenced until { $at }
why-away = away until { $at }
why-reminders_over = { $n ->
    [one] the one reminder was sent
   *[other] all { $n } reminders were sent
}; still waiting, no more reminders
why-not_reminded = its rule never reminds (an exclusion)
why-moved_away = moved away from them at { $at }; no more reminders to them
why-no_rule = no rule matches
why-unwatched = not watched any more; never reminded

## A task's page: its facts and history.
task-initiator = Initiator
task-started = Started
task-first-seen = First seen
task-finished = Finished
task-not-given = not given by Feishu
task-pending = no: pending
task-moved-away-at = moved away { $at } (not known to be done)
task-no-longer-pending = No longer pending for:
task-since = since { $at }
task-moved-since = moved away { $at }
history-first-seen = first seen by a listing
history-reminder = reminder to { $who }
history-cc = escalated by cc to { $people }, about { $who }
history-chat = escalated to a task chat with { $people }, about { $who }
history-transfer = transferred from { $who } to { $people }
history-add = { $people } added beside { $who }
history-by = , sent by
history-rule = , rule { $rule }
history-feishu = Feishu
history-silenced = silenced { $who } until { $until } by { $by }
history-removed = ; removed { $at } by { $by }
history-finished = finished
history-moved-away = moved away (no watched user has it; not known to be done)
outcome-sent = sent
outcome-failed = failed
outcome-refused = refused
outcome-unknown = unknown (may have reached Feishu)
outcome-pending = in progress
every-assignee = every assignee
form-who = Who
form-for = For
form-or-until = or until
form-from = From
form-reason = Reason
form-deputy = Deputy
form-none = none
form-silence = Silence
form-save = Save
form-remove = Remove
form-show = Show
form-over-last = Over the last
form-by = by

## Silences and away windows.
silences-active = The active silences.
silences-every = Every silence.
silences-all-link = Every silence, past ones too
silences-active-link = Only the active ones
col-id = id
col-who = who
col-until = until
col-reason = reason
col-made-by = made by
col-removed = removed
col-from = from
col-deputy = deputy
removed-by = { $at } by { $by }
who-unknown = someone
ran-out = ran out
away-intro = While someone is away nothing reminds or escalates to them; when the window ends, what is due goes once.
away-add-deputy = Each of their tasks that falls due meanwhile gets the deputy added beside them, once.
away-transfer = Each of their tasks that falls due meanwhile is transferred to the deputy, once.
away-current-link = Only current and coming ones
away-past-link = Past ones too
away-over = over
away-mark = Mark someone away

## The audit trail.
audit-acts = { $n ->
    [one] one act
   *[other] { $n } acts
}.
col-when = when
col-address = from
col-what = what
col-teams = teams
col-detail = detail
audit-command-line = command line
act-sign_in = signed in
act-sign_out = signed out
act-session_ended = session ended
act-silence_added = silence added
act-silence_removed = silence removed
act-away_added = away window added
act-away_removed = away window removed
act-team_saved = team version saved
act-team_rolled_back = team rolled back
form-team = Team

## The rules page.
rules-held = What each rule holds now
rules-its-tasks = its tasks, next due first
rules-words = The rules in plain words

## Teams.
teams-intro = Each team's own people, rules and digests, edited here by its leads. The config file's [[teams]] entries say who leads; what a team's document says is in force from the next cycle.
col-team = team
col-version = version
col-saved = saved
col-by = by
col-comment = comment
teams-none-yet = none yet
teams-edit = edit
team-title = Team { $team }
team-diff-title = Team { $team }: version { $from } → { $to }
team-back = Back to the team
team-same = The two versions are the same.
team-not-in-force = This team's latest version is not in force — its people are listed but not reminded:
team-no-document = No document yet: its people and rules are the config file's.
team-version = Version { $version }
team-latest-is = (the latest is { $latest })
team-saved-by = , saved { $at } by { $by }:
team-keys = The file's [[users]] and [[rules]] keys: users are ids, rules select this team's people; operators, cc and move targets are the team's own people, initiator, or those the admin allows. Digests name a webhook the admin set (webhook = "NAME").
team-stale = Not saved: version { $current } was saved since you started from an older one. Here is what it changed against your draft; start again from it.
team-not-saved = Not saved:
team-preview = Preview
team-preview-pairs = { $pairs } pending task assignments of the team; { $changed } { $changed ->
    [one] change
   *[other] changes
}.
team-preview-tick = At the next tick ({ $tick }): reminders { $rb } → { $ra }, escalations { $eb } → { $ea }.
col-next-reminder = next reminder
team-comment = Comment (required)
team-save-as = Save as version { $version }
team-restores = (version { $version } again)
team-diff = diff
team-against-latest = against the latest
team-roll-back = Roll back to this

## Signing in.
sign-in = Sign in
sign-in-feishu = Sign in with Feishu
sign-in-token = Console token
sign-in-bad-token = That token is not the console's token.
sign-in-bad-link = That sign-in link was used already or has expired; ask for a new one (expediter console link).
sign-in-stale-form = The sign-in form was stale or not this console's; try again.
sign-in-failed = Sign-in failed.
sign-in-hint = Or open a one-time link from this command on the server:
sign-in-link-once = This link signs you in once.

## The report (the console's page, report --html and the command line's table).
report-title = Did the reminders work?
report-span = From { $since } to { $until }, by { $by }.
report-by-rule = rule
report-by-team = team
report-by-user = user
report-total = total
report-reminders = reminders
report-tasks = tasks reminded
report-done = done after a reminder
report-median = median to done
report-p90 = p90 to done
report-within-24h = done within 24 h
report-escalations = escalations
report-moves = moves
report-move-median = median move to done
report-backlog = backlog <1d / 1–3d / 3–7d / ≥7d
report-chart-time = Time from first reminder to done (median; lighter: p90)
report-chart-backlog = Today's backlog by age
report-chart-response = Per assignee: reminded tasks done within 24 h
report-nothing = Nothing to show yet.
report-under-1d = under 1 day
report-1-3d = 1–3 days
report-3-7d = 3–7 days
report-over-7d = 7 days or more
report-moved-away = { $n } moved { $n ->
    [one] task
   *[other] tasks
} went to someone not watched and left every watched list: moved away, not known to be done, so not in "done".

## The command line's tables (plan, silence list, away list).
cli-id = ID
cli-task = TASK
cli-assignee = ASSIGNEE
cli-age = AGE
cli-rule = RULE
cli-sent = SENT
cli-status = STATUS
cli-next-why = NEXT / WHY
cli-label = LABEL
cli-until = UNTIL
cli-state = STATE
cli-by = BY
cli-reason = REASON
cli-who = WHO
cli-from = FROM
cli-deputy = DEPUTY
cli-active = active
cli-run-out = run out
cli-removed = removed { $at } by { $by }
cli-to-come = to come
cli-away-now = away now
cli-no-silences = No silences.
cli-no-away = No away windows.
cli-not-seen = not seen yet

## Roles, as the header shows them.
role-admin = admin
role-nobody = no role
role-lead = lead of { $teams }
role-viewer = viewer of { $teams }
plan-working-age = { $age } ({ $work } work)

## Escalation, in plan and on the console.
esc-cc = cc
esc-chat = chat
esc-move = a move
esc-and = {" and "}
esc-not-yet = escalates after { $after } unanswered expedite(s) ({ $sent } so far)
esc-unconfirmed = escalates once a listing shows the task still pending after the last expedite
esc-waiting = escalates at { $at }
esc-waiting-never = escalation waits, but the calendar never opens again
esc-deferred = escalation due, outside calendar until { $at }
esc-deferred-never = escalation due, but the calendar never opens again
esc-due = escalation by { $by } due — goes out next cycle
esc-done = escalated by { $by } at { $at }

## plan's summary.
plan-none = No pending tasks tracked yet. Run `expediter once` to list them.
plan-summary = { $n } pending assignment(s): { $due } due, { $waiting } waiting, { $deferred } deferred, { $capped } capped, { $silenced } silenced
plan-summary-away = , { $n } away

## The app bot's digest card.
card-title = { $name }: { $n } pending { $n ->
    [one] assignment
   *[other] assignments
}
card-needs-you = { $n ->
    [one] needs you: one task
   *[other] needs you: { $n } tasks
}
card-snooze-1d = Snooze 1d
card-snooze-3d = Snooze 3d
card-open = Open
card-undo = Undo
card-snoozed = snoozed { $span } by { $by }
card-done = Snoozed { $span }: { $task } for { $who }.
card-undone = The snooze is undone.
card-already = Done already.
card-sign-in = Sign in to the console once, then try again: your Feishu account is not known here yet.
card-not-yours = Only an admin or a lead of this person's team can do this.
card-failed = That did not work: { $why }
card-working = Being done; the card updates in a moment.
card-preview-title = Digest { $name } as the bot's card
card-preview-intro = What the app's bot would send now, as the chat will show it (the buttons act only in Feishu).
card-why-internal = something went wrong inside; the daemon's log says what
card-why-event = the click came without its event id or who clicked
card-why-database = the database did not answer
