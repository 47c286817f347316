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
