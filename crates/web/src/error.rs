//! One mapping from use-case errors to HTTP: an HTML page for people, RFC
//! 9457 problem details for the API. A 5xx never shows internals.

use askama::Template;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use haven_app::AppError;
use haven_domain::FieldError;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A plain error page.
pub fn error_page(title: &str, message: &str) -> Html<String> {
    Html(
        ErrorPage { title, message }
            .render()
            .unwrap_or_else(|_| title.to_string()),
    )
}

/// RFC 9457 problem details, with the failing fields named in `errors`.
pub fn problem(status: StatusCode, title: &str, detail: &str, errors: &[FieldError]) -> Response {
    problem_with(status, title, detail, errors, serde_json::Map::new())
}

/// Problem details with extension members (RFC 9457 §3.2), e.g. `possible_duplicates`.
pub fn problem_with(
    status: StatusCode,
    title: &str,
    detail: &str,
    errors: &[FieldError],
    extra: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "errors": errors.iter().map(|e| serde_json::json!({"field": e.field, "message": e.message})).collect::<Vec<_>>(),
    });
    if let Some(obj) = body.as_object_mut() {
        obj.extend(extra);
    }
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

fn status_of(e: &AppError) -> (StatusCode, &'static str) {
    match e {
        AppError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid input"),
        AppError::Denied(_) => (StatusCode::FORBIDDEN, "Forbidden"),
        AppError::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        AppError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
        AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "Unauthorized"),
        AppError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
    }
}

fn public_detail(e: &AppError) -> String {
    match e {
        AppError::Internal(m) => {
            tracing::error!(error = %m, "internal error");
            "something went wrong; nothing was saved. Try again, and tell the administrator if it persists".into()
        }
        other => other.to_string(),
    }
}

/// An error answered as problem details.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title) = status_of(&self.0);
        let fields = match &self.0 {
            AppError::Invalid(inv) => inv.0.clone(),
            _ => Vec::new(),
        };
        problem(status, title, &public_detail(&self.0), &fields)
    }
}

/// An error answered as a page.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, AppError::Unauthenticated) {
            return Redirect::to("/login?expired=1").into_response();
        }
        let (status, title) = status_of(&self.0);
        (status, error_page(title, &public_detail(&self.0))).into_response()
    }
}
