//! Listing the audit trail: filters, pages and the CSV export.

use crate::both_backends;
use crate::harness::{callers, ip, request, send, Backend, TestApp};

async fn listing_filters_and_pages(backend: Backend) {
    let app = TestApp::new(backend);
    let svc = app.service().await;
    let who = callers(&app, &svc).await;
    let admin = ("Authorization", format!("Bearer {}", who.admin_token));
    let get = |uri: String| request("GET", &uri, ip(1)).insert_header(admin.clone());
    let (status, _, page) = send(&svc, get("/api/v1/audit?limit=2".into())).await;
    assert_eq!(status, 200);
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    let next = page["next_before"].as_i64().expect("more pages");
    let (_, _, older) = send(&svc, get(format!("/api/v1/audit?limit=2&before={next}"))).await;
    let first_older = older["entries"][0]["seq"].as_i64().expect("seq");
    assert!(first_older < next);
    let (_, _, created) = send(&svc, get("/api/v1/audit?action=user.created".into())).await;
    let created = created["entries"].as_array().expect("entries");
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|e| e["action"] == "user.created"));
    let (_, _, by_admin) = send(
        &svc,
        get(format!(
            "/api/v1/audit?actor_id={}&target_type=api_token",
            who.admin_id
        )),
    )
    .await;
    assert!(by_admin["entries"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    let (_, _, future) = send(&svc, get("/api/v1/audit?since=2999-01-01T00:00:00Z".into())).await;
    assert_eq!(future["entries"].as_array().map(Vec::len), Some(0));
    let (status, _, _) = send(&svc, get("/api/v1/audit?bogus=1".into())).await;
    assert_eq!(status, 400);
    let res = actix_web::test::call_service(
        &svc,
        get("/api/v1/audit.csv?action=user.created".into()).to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv")));
    let csv = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).expect("utf8");
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .is_some_and(|h| h.starts_with("seq,id,at,actor_type")));
    assert_eq!(lines.count(), 2);
}

both_backends!(listing_filters_and_pages,);
