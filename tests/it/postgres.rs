//! The integration tests of cycles, escalation, listing, rules, quota and digests, run again
//! with the database on PostgreSQL (a fresh database on the cluster `.ci/with-postgres`
//! starts, per test). Tests that look at the SQLite file itself are not among them.

use crate::helpers::{Backend, on_backend};

macro_rules! on_postgres {
    ($($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                on_backend(Backend::Postgres, crate::$module::$test);
            }
        )*
    };
}

mod cycle {
    use super::*;

    on_postgres! {
        cycle::pages_over_120_tasks_by_offset,
        cycle::shared_task_is_expedited_in_one_call_naming_both,
        cycle::a_task_newly_shared_is_reminded_to_the_new_assignee_at_once,
        cycle::a_second_once_within_repeat_sends_nothing,
        cycle::max_times_caps_expedites,
        cycle::dry_run_sends_and_records_nothing,
        cycle::users_not_watched_are_never_named,
        cycle::more_than_20_due_assignees_go_in_chunks_of_20,
        cycle::finished_tasks_leave_the_plan_only_after_a_complete_listing,
        cycle::a_listing_like_an_older_one_is_read_again_after_its_tasks_changed,
        cycle::plan_reads_the_database_alone,
        cycle::plan_without_a_database_says_what_to_do,
        cycle::demo_runs_a_real_cycle_and_exits_0,
        cycle::cycles_driven_in_process_at_chosen_moments,
        cycle::report_numbers_from_a_known_history_and_a_page_with_charts,
    }
}

mod engine {
    use super::*;

    on_postgres! {
        engine::calls_stop_at_the_first_tick_after_the_listing_not_an_interval_later,
        engine::escalations_stop_at_the_deadline_too,
        engine::answers_without_a_count_finish_nothing_they_did_not_show_ended,
        engine::a_listing_that_never_shows_its_end_fails_and_keeps_every_task,
        engine::an_unreadable_entry_keeps_the_others_and_finishes_nothing,
        engine::no_token_at_send_time_means_not_sent_and_still_due,
        engine::a_refused_token_that_cannot_be_renewed_mid_call_is_not_sent,
        engine::an_endless_answer_is_cut_off_and_fails_only_its_call,
        engine::a_counted_listing_of_more_than_200_pages_is_read_to_its_end,
        engine::sigterm_while_a_30k_backlog_is_decided_ends_the_daemon_within_10s,
    }
}

mod escalation {
    use super::*;

    on_postgres! {
        escalation::escalates_after_the_last_reminder_went_unanswered_and_only_once,
        escalation::one_chat_per_task_later_assignees_are_invited_into_it,
        escalation::no_second_cc_after_an_ambiguous_answer,
        escalation::silence_refuses_mistakes_and_says_what_it_did,
        escalation::kill_9_during_a_cc_never_repeats_it,
        escalation::silences_are_added_listed_and_removed_while_the_daemon_runs,
        escalation::silence_bad_input_exits_2_naming_the_flag,
        escalation::the_daily_cap_keeps_the_most_overdue_and_holds_the_rest,
        escalation::a_capped_assignee_is_not_named_in_the_opinion,
        escalation::a_repeat_ladder_spaces_reminders_by_its_steps,
    }
}

mod listing {
    use super::*;

    on_postgres! {
        listing::a_new_task_is_discovered_before_it_can_be_due_and_reminded_in_its_tick,
        listing::a_due_shared_task_lists_every_watched_assignee_in_its_tick,
        listing::a_task_missing_from_a_listing_is_rechecked_next_tick,
        listing::a_reminded_assignee_is_followed_up_every_hour_while_the_task_is_pending,
        listing::users_a_digest_selects_are_listed_in_the_tick_before_it,
        listing::plan_shows_each_users_last_and_next_listing,
        listing::the_daemon_lists_by_the_cadence_and_once_lists_everyone,
    }
}

mod quota {
    use super::*;

    on_postgres! {
        quota::a_used_up_quota_holds_every_call_until_the_first_of_the_next_month,
        quota::a_reminder_answered_with_the_quota_code_was_not_sent_and_stays_due,
        quota::the_daemon_says_it_once_stays_up_and_resumes_on_reload,
    }
}

mod rules {
    use super::*;

    on_postgres! {
        rules::outside_the_calendar_an_expedite_is_deferred_then_released,
        rules::one_listing_per_distinct_api_ids_set_then_only_what_is_unknown,
        rules::a_task_a_shifted_filtered_listing_skipped_is_still_owned_by_its_flows_rule,
        rules::the_initiator_can_be_the_operator,
        rules::a_short_budget_sends_the_most_overdue_first_round_robin,
        rules::check_explains_rules_and_warns_about_shadowed_ones,
    }
}

mod digest {
    use super::*;

    on_postgres! {
        digest::a_signed_digest_holds_only_the_selected_old_enough_tasks,
        digest::a_wrong_signing_secret_or_a_missing_keyword_is_reported_plainly,
        digest::five_hundred_tasks_fit_under_the_body_limit,
        digest::digests_post_on_their_own_cron_under_run,
        digest::check_warns_about_secrets_others_can_read,
    }
}

mod network {
    use super::*;

    on_postgres! {
        network::a_reminder_whose_connection_never_opened_stays_due_and_goes_once_later,
        network::an_escalation_whose_connection_never_opened_stays_due_and_goes_once_later,
    }
}
