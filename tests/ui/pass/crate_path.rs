//! `crate = ".."`: safemodel reached through a re-export, not as `::safemodel`.

mod db {
    pub use safemodel as contracts;
}

use db::contracts::{SafeEnum, SafeModel};

#[derive(Clone, Copy, SafeEnum)]
#[safemodel(crate = "crate::db::contracts", rename_all = "kebab-case")]
enum Stage {
    NotStarted,
    Shipped,
}

#[derive(SafeModel)]
#[safemodel(crate = "crate::db::contracts", table = "orders", tenant = "shop_id")]
struct Order {
    #[safemodel(primary_key)]
    id: i64,
    shop_id: i64,
    stage: Stage,
    #[validate(length(max = 10))]
    note: Option<String>,
}

fn main() {
    assert_eq!(<Stage as SafeEnum>::VARIANTS, ["not-started", "shipped"]);
    assert_eq!(Order::info().table, "orders");
    assert!(
        db::contracts::registry()
            .get("orders")
            .is_ok_and(|m| m.is_some())
    );
}
