//! Route resolution in a ~130-route table modelled on the GitHub REST API.
//! Targets: static <= 30 ns, dynamic (1 and 4 parameters) <= 100 ns.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use hyperdjango::routing::{Resolution, RouteTable};

mod github_routes;

fn table() -> RouteTable {
    let mut table = RouteTable::new();
    for (id, (method, pattern)) in github_routes::ROUTES.iter().enumerate() {
        table.insert(method, pattern, id).expect("valid route");
    }
    table
}

fn resolve(criterion: &mut Criterion) {
    let table = table();
    let cases = [
        ("static /rate_limit", "/rate_limit"),
        ("dynamic 1 param /users/{username}", "/users/octocat"),
        (
            "dynamic 4 params /repos/{owner}/{repo}/issues/{n:int}/comments/{id:int}",
            "/repos/rust-lang/rust/issues/12345/comments/987654",
        ),
    ];
    for (label, path) in cases {
        assert!(
            matches!(table.resolve("GET", path), Resolution::Found { .. }),
            "{path}"
        );
        criterion.bench_function(&format!("resolve {label}"), |bench| {
            bench.iter(|| match table.resolve(black_box("GET"), black_box(path)) {
                Resolution::Found { route_id, params } => black_box(route_id + params.len()),
                _ => 0,
            })
        });
    }
    criterion.bench_function("resolve miss /nope/nothing (404 + slash check)", |bench| {
        bench.iter(|| {
            matches!(
                table.resolve(black_box("GET"), black_box("/nope/nothing")),
                Resolution::NotFound
            )
        })
    });
}

criterion_group!(benches, resolve);
criterion_main!(benches);
