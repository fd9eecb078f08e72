//! Pure types and rules of account recovery: no I/O, no Telegram, no SQL.

pub mod account;
pub mod audit;
pub mod lang;
pub mod password;
pub mod phone;
pub mod token;

pub use account::{Account, Email, Login};
pub use audit::AuditEvent;
pub use lang::Lang;
pub use password::{NewPassword, PasswordContext, PasswordPolicy, PasswordRejection};
pub use phone::Phone;
pub use token::{ResetToken, TokenHash};
