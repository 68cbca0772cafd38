//! Every `#[safemodel(..)]` key: table (with schema), tenant, primary_key
//! (single and composite), rename, pii; a tenant that is also the key.

use safemodel::SafeModel;

#[derive(SafeModel)]
#[safemodel(table = "billing.Invoices", tenant = "account")]
struct Invoice {
    #[safemodel(primary_key)]
    id: i64,
    #[safemodel(rename = "account")]
    account_id: i64,
    #[safemodel(pii)]
    #[safemodel(rename = "billing_email")]
    email: Option<String>,
    #[safemodel(pii, rename = "postal_address")]
    address: String,
}

// A users table scoped by its own id: the tenant is the primary key.
#[derive(SafeModel)]
#[safemodel(table = "users", tenant = "id")]
struct User {
    #[safemodel(primary_key)]
    id: uuid::Uuid,
    name: String,
}

// Composite key, in field order; the tenant is part of it.
#[derive(SafeModel)]
#[safemodel(tenant = "org_id", table = "memberships")]
struct Membership {
    #[safemodel(primary_key)]
    org_id: String,
    #[safemodel(primary_key, rename = "user")]
    user_id: i64,
    #[safemodel(rename = "type")]
    r#type: String,
    r#match: bool,
}

fn main() {
    let info = Invoice::info();
    assert_eq!(
        (info.table, info.tenant, info.primary_key),
        ("billing.Invoices", "account", &["id"][..])
    );
    assert!(
        info.column("billing_email")
            .is_some_and(|c| c.pii && c.nullable)
    );
    assert!(
        info.column("postal_address")
            .is_some_and(|c| c.pii && !c.nullable)
    );
    assert_eq!(User::info().tenant, "id");
    assert_eq!(User::info().primary_key, ["id"]);
    let m = Membership::info();
    assert_eq!(m.primary_key, ["org_id", "user"]);
    assert_eq!(m.column("type").map(|c| c.field), Some("type"));
    assert_eq!(m.column("match").map(|c| c.field), Some("match"));
}
