//! Haven's domain: types that parse, rules as plain functions, no I/O.
//!
//! Every rule taken from a guideline or law cites its source next to the code
//! and in the name of its test.

pub mod audit;
pub mod auth;
pub mod care;
pub mod chi;
pub mod client;
pub mod clock;
pub mod codes;
pub mod community;
pub mod drugcheck;
pub mod eligibility;
pub mod emergency;
pub mod floor;
pub mod journey;
pub mod similarity;
pub mod site;
pub mod supply;
pub mod visit;

/// A validation failure that names the field it belongs to, so forms can show
/// the message at the field and the API can name it in problem details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Field name as used in forms and JSON bodies.
    pub field: String,
    /// Human-readable message, safe to show to staff.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A list of field errors: validation collects them all so a form can show
/// every problem at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    /// Adds one error.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok(())` when no error was collected.
    pub fn into_result(self) -> Result<(), Invalid> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// A single-field error.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }
}
