//! Floor pages: the board and its actions (in progress).
use axum::extract::{Path, State};

use crate::{AppState, error::PageError, form::FormData, security::Staff, views::PageResult};

fn todo_page() -> PageResult {
    Err(PageError(haven_app::AppError::NotFound))
}
pub async fn board_page(State(_s): State<AppState>, _staff: Staff) -> PageResult {
    todo_page()
}
pub async fn episode_start(State(_s): State<AppState>, _staff: Staff, _f: FormData) -> PageResult {
    todo_page()
}
pub async fn episode_check(
    State(_s): State<AppState>,
    _staff: Staff,
    Path(_id): Path<String>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
pub async fn episode_end(
    State(_s): State<AppState>,
    _staff: Staff,
    Path(_id): Path<String>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
pub async fn space_mark(
    State(_s): State<AppState>,
    _staff: Staff,
    Path(_id): Path<String>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
pub async fn aftercare_enter(
    State(_s): State<AppState>,
    _staff: Staff,
    Path(_id): Path<String>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
pub async fn aftercare_leave(
    State(_s): State<AppState>,
    _staff: Staff,
    Path(_id): Path<String>,
    _f: FormData,
) -> PageResult {
    todo_page()
}
