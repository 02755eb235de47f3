//! Emergency pages and the shift handover (in progress).

use axum::{
    extract::{Path, State},
    response::Response,
};

use crate::{AppState, error::PageError, form::FormData, security::Staff, views::PageResult};

fn todo_page() -> PageResult {
    Err(PageError(haven_app::AppError::NotFound))
}

pub async fn handover_page(State(_state): State<AppState>, _staff: Staff) -> PageResult {
    todo_page()
}
pub async fn handover_note(State(_state): State<AppState>, _staff: Staff, _f: FormData) -> PageResult {
    todo_page()
}
pub async fn emergencies_page(State(_state): State<AppState>, _staff: Staff) -> PageResult {
    todo_page()
}
pub async fn emergency_new_page(State(_state): State<AppState>, _staff: Staff) -> PageResult {
    todo_page()
}
pub async fn emergency_open(State(_state): State<AppState>, _staff: Staff, _f: FormData) -> PageResult {
    todo_page()
}
pub async fn emergency_page(State(_state): State<AppState>, _staff: Staff, Path(_id): Path<String>) -> PageResult {
    todo_page()
}
pub async fn emergency_entry(
    State(_state): State<AppState>,
    _staff: Staff,
    Path(_id): Path<String>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
pub async fn emergency_amend(
    State(_state): State<AppState>,
    _staff: Staff,
    Path((_id, _entry)): Path<(String, String)>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
pub async fn emergency_close(
    State(_state): State<AppState>,
    _staff: Staff,
    Path(_id): Path<String>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
#[allow(dead_code)]
fn _unused(_: Response) {}
