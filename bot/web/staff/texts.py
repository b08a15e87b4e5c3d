"""Words for the staff pages: labels of the stored vocabularies and of finished steps.

The services store short ASCII values (``bot.services.cases``); here they get
their English msgids, translated per page with the UI catalogs in ``locales/``. A
refusal's words are in ``refusals`` with its HTTP status.
"""

from __future__ import annotations

from bot.i18n import N_

CONCERN_LABELS = {
    "child": N_("A child under 18"),
    "young_adult": N_("A young adult"),
    "adult": N_("An adult"),
    "unsaid": N_("Not said"),
}
TOPIC_LABELS = {
    "worry": N_("Is the worry justified?"),
    "talk": N_("How to talk with them"),
    "online": N_("Online life and recruitment"),
    "milieus": N_("The milieus"),
    "leaving": N_("Leaving a milieu"),
    "selfcare": N_("Taking care of oneself"),
    "municipality": N_("What the municipality can do"),
    "other": N_("Something else"),
}
URGENCY_LABELS = {
    "urgent": N_("Urgent: immediate danger"),
    "soon": N_("Soon"),
    "later": N_("It can wait"),
}
REPLY_VIA_LABELS = {
    "chat": N_("In the chat (anonymous)"),
    "phone": N_("Phone call-back (not anonymous)"),
}
STATUS_LABELS = {
    "open": N_("Waiting"),
    "claimed": N_("Claimed"),
    "closed": N_("Closed"),
    "withdrawn": N_("Withdrawn"),
}
OUTCOME_LABELS = {
    "advice": N_("Advice given"),
    "social_services": N_("Referred to social services"),
    "exit_programme": N_("Referred to an exit programme"),
    "police": N_("Referred to the police or 112"),
    "withdrew": N_("The relative withdrew"),
    "no_response": N_("No response"),
}
# (added) "Did the contact help?", the relative's one tap after a close (cases.FEEDBACK)
FEEDBACK_LABELS = {
    "yes": N_("Yes, it helped"),
    "partly": N_("It helped partly"),
    "no": N_("No, it did not help"),
}
AUTHOR_LABELS = {
    "relative": N_("Relative"),
    "staff": N_("Staff"),
    "system": N_("System"),
}
ROLE_LABELS = {
    "staff": N_("Staff"),
    "coordinator": N_("Coordinator"),
    "admin": N_("Administrator"),
}
ACTION_LABELS = {
    "claim": N_("Claimed"),
    "release": N_("Released"),
    "auto_release": N_("Released automatically"),
    "reply": N_("Replied"),
    "note": N_("Added a note"),
    "transfer": N_("Transferred"),
    "close": N_("Closed"),
    "reopen": N_("Reopened"),
    "canned_reply_add": N_("Added a canned reply"),
    "canned_reply_remove": N_("Removed a canned reply"),
    # the second factor and single sign-on (bot.services.totp, bot.services.oidc)
    "2fa_enrolled": N_("Turned on the second factor"),
    "2fa_signin": N_("Signed in with a code"),
    "2fa_failed": N_("Typed a wrong code"),
    "2fa_throttled": N_("Too many wrong codes: made to wait"),
    "2fa_recovery_used": N_("Signed in with a recovery code"),
    "2fa_reset": N_("Removed someone's second factor"),
    "2fa_removed": N_("Second factor removed by an administrator"),
    "sso_signin": N_("Signed in by single sign-on"),
    "sso_refused": N_("Single sign-on refused (no mapped group)"),
    # teams' languages and hours set in the browser (bot.services.teams)
    "team_languages": N_("Changed a team's languages served"),
    "team_hours": N_("Changed a team's opening hours"),
    "team_reset": N_("Reset a team to its file's values"),
    # staff accounts in the admin section (bot.services.staff_admin): the admin's row and
    # the account's row of each change
    "account_add": N_("Added a staff account"),
    "account_created": N_("Account added by an administrator"),
    "account_link": N_("Made a set-password link"),
    "account_link_made": N_("Set-password link made by an administrator"),
    "password_set": N_("Chose a password with a set-password link"),
    "account_role": N_("Changed someone's role"),
    "role_changed": N_("Role changed"),
    "account_teams": N_("Changed someone's teams"),
    "teams_changed": N_("Teams changed"),
    "account_deactivate": N_("Deactivated an account"),
    "account_deactivated": N_("Account deactivated"),
    "account_reactivate": N_("Reactivated an account"),
    "account_reactivated": N_("Account reactivated"),
    # sign-ins, sessions and reads (bot.services.signin, staff_sessions, staff; the doors)
    "signin": N_("Signed in with a password"),
    "signin_failed": N_("Sign-in failed (wrong username or password)"),
    "signin_throttled": N_("Too many failed sign-ins: made to wait"),
    "signin_busy": N_("Sign-in refused for now: too many at once"),
    "password_changed": N_("Password changed"),
    "signed_out_elsewhere": N_("Signed out everywhere else"),
    "signed_out_everywhere": N_("Signed out everywhere"),
    "case_open": N_("Opened a request"),
    "phone_view": N_("Viewed a call-back number"),
    "audit_read": N_("Read the audit log"),
    "stats_export_csv": N_("Exported statistics (CSV)"),
    "stats_export_json": N_("Exported statistics (JSON)"),
    "stats_export_api": N_("Read statistics through the API"),
}
DONE = {
    "claim": N_("You have claimed the request."),
    "release": N_("You have released the request. It is back in the queue."),
    "reply": N_("Your reply was sent."),
    "reply_failed": N_("Your reply was saved but could not be delivered. See the message below."),
    "note": N_("The note was saved."),
    "transfer": N_("The request was transferred."),
    "close": N_("The request was closed."),
    "reopen": N_("The request was reopened."),
}
