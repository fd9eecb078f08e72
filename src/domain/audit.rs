//! The security events that are written to the audit table.

/// Every security-relevant decision, as stored in `audit_events.event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    ContactVerified,
    ContactRefused,
    AccountNotFound,
    ResetLinkIssued,
    ResetLinkRateLimited,
    ResetLinkUsed,
    ResetLinkExpired,
    ResetLinkInvalid,
    PasswordRejected,
    PasswordChanged,
    PasswordChangeDisputed,
    ResetPageOpened,
    /// The CRM created an account (API or CSV); the detail names the source.
    AccountCreated,
    /// The CRM changed an account; the detail names the fields, no values
    /// but the flags'.
    AccountUpdated,
    /// The account was deactivated; the detail says how many live links
    /// were revoked with it.
    AccountDeactivated,
    AccountReactivated,
    /// A company's licence end was set or cleared.
    CompanyLicenceSet,
    SignedIn,
    SignInFailed,
    SignInRefused,
    SignInLocked,
    SignInUnlocked,
    /// An employee asked the bot to tell their company's administrators
    /// that the licence has lapsed; the detail says how many were told, or
    /// why none was.
    CompanyAdminsAlerted,
    /// A user opened a support ticket; the detail names its number and
    /// category.
    TicketOpened,
    /// A staff member acted on a ticket from the staff group; the detail
    /// names the ticket and the action.
    StaffAction,
    /// A press on a staff button refused: not a member of the staff group,
    /// not a staff admin, or a button that does not belong to the ticket.
    StaffActionRefused,
    /// "It wasn't me": recovery of the account is blocked until a staff
    /// admin lifts it.
    RecoveryBlocked,
    RecoveryUnblocked,
    /// The mail server refused a mail for good (or it could not be sent for
    /// a day); the detail says why.
    MailFailed,
    /// A code was mailed to prove a new Telegram user for an account.
    BindingCodeSent,
    /// A typed code was wrong, expired, or one too many.
    BindingCodeRefused,
    /// A Telegram user proved themselves for an account: bound.
    TelegramBound,
    /// `NEW_BINDING_POLICY=hold`: a new Telegram user waits before the
    /// phone alone binds it (refused: too many holds for the account).
    BindingHoldStarted,
    /// A hold was withdrawn in the bot or cancelled from the mailed link;
    /// the detail says which.
    BindingHoldCancelled,
    /// Two-factor authentication went on; the detail names the source
    /// (`api`, `bot`).
    TwoFactorEnabled,
    /// An enrolment began (a secret shown, waiting for its first code).
    TwoFactorEnrolmentStarted,
    /// An enrolment refused: `already_on`, `unavailable` (no SECRET_KEY),
    /// `wrong_code`, `expired`.
    TwoFactorEnrolmentRefused,
    /// Two-factor authentication went off; the detail names the source.
    TwoFactorDisabled,
    /// A new set of backup codes (the older set revoked); the detail names
    /// its generation.
    BackupCodesIssued,
    /// A right backup code, spent; the detail says how many are left.
    BackupCodeUsed,
    /// A wrong backup code, or one try too many this hour.
    BackupCodeRefused,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::ContactVerified => "contact_verified",
            AuditEvent::ContactRefused => "contact_refused",
            AuditEvent::AccountNotFound => "account_not_found",
            AuditEvent::ResetLinkIssued => "reset_link_issued",
            AuditEvent::ResetLinkRateLimited => "reset_link_rate_limited",
            AuditEvent::ResetLinkUsed => "reset_link_used",
            AuditEvent::ResetLinkExpired => "reset_link_expired",
            AuditEvent::ResetLinkInvalid => "reset_link_invalid",
            AuditEvent::PasswordRejected => "password_rejected",
            AuditEvent::PasswordChanged => "password_changed",
            AuditEvent::PasswordChangeDisputed => "password_change_disputed",
            AuditEvent::ResetPageOpened => "reset_page_opened",
            AuditEvent::AccountCreated => "account_created",
            AuditEvent::AccountUpdated => "account_updated",
            AuditEvent::AccountDeactivated => "account_deactivated",
            AuditEvent::AccountReactivated => "account_reactivated",
            AuditEvent::CompanyLicenceSet => "company_licence_set",
            AuditEvent::SignedIn => "signed_in",
            AuditEvent::TicketOpened => "ticket_opened",
            AuditEvent::StaffAction => "staff_action",
            AuditEvent::StaffActionRefused => "staff_action_refused",
            AuditEvent::RecoveryBlocked => "recovery_blocked",
            AuditEvent::RecoveryUnblocked => "recovery_unblocked",
            AuditEvent::MailFailed => "mail_failed",
            AuditEvent::BindingCodeSent => "binding_code_sent",
            AuditEvent::BindingCodeRefused => "binding_code_refused",
            AuditEvent::TelegramBound => "telegram_bound",
            AuditEvent::BindingHoldStarted => "binding_hold_started",
            AuditEvent::BindingHoldCancelled => "binding_hold_cancelled",
            AuditEvent::TwoFactorEnabled => "two_factor_enabled",
            AuditEvent::TwoFactorEnrolmentStarted => "two_factor_enrolment_started",
            AuditEvent::TwoFactorEnrolmentRefused => "two_factor_enrolment_refused",
            AuditEvent::TwoFactorDisabled => "two_factor_disabled",
            AuditEvent::BackupCodesIssued => "backup_codes_issued",
            AuditEvent::BackupCodeUsed => "backup_code_used",
            AuditEvent::BackupCodeRefused => "backup_code_refused",
            AuditEvent::SignInFailed => "sign_in_failed",
            AuditEvent::SignInRefused => "sign_in_refused",
            AuditEvent::SignInLocked => "sign_in_locked",
            AuditEvent::SignInUnlocked => "sign_in_unlocked",
            AuditEvent::CompanyAdminsAlerted => "company_admins_alerted",
        }
    }
}

/// How a decision came out, as stored in `audit_events.outcome`; the reason
/// for a refusal goes into the row's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// Done as asked.
    Ok,
    /// Refused by a rule.
    Refused,
    /// Nothing matched (no account on a phone).
    NotFound,
    /// A user's report, taken as given.
    Reported,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Refused => "refused",
            AuditOutcome::NotFound => "not_found",
            AuditOutcome::Reported => "reported",
        }
    }
}
