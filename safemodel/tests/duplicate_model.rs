//! Two contracts for one table: an error naming both types.
//!
//! Its own test binary, so the duplicate stays out of every other test's registry.

use safemodel::{Error, Row, SafeModel, registry};

mod billing {
    #[derive(Debug, safemodel::SafeModel)]
    #[safemodel(table = "invoices", tenant = "account_id")]
    pub struct Invoice {
        #[safemodel(primary_key)]
        pub id: i64,
        pub account_id: i64,
    }
}

mod reporting {
    #[derive(Debug, safemodel::SafeModel)]
    #[safemodel(table = "invoices", tenant = "account_id")]
    pub struct InvoiceView {
        #[safemodel(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub total: Option<safemodel::Decimal>,
    }
}

#[test]
fn two_models_for_one_table_name_both_types() {
    let expected = "table `invoices` has two contracts: `duplicate_model::billing::Invoice` and `duplicate_model::reporting::InvoiceView`";
    let err = registry().get("invoices").unwrap_err();
    assert!(matches!(
        &err,
        Error::DuplicateModel { table, first, second }
            if table == "invoices"
                && *first == "duplicate_model::billing::Invoice"
                && *second == "duplicate_model::reporting::InvoiceView"
    ));
    assert_eq!(err.to_string(), expected);
    assert_eq!(registry().check().unwrap_err().to_string(), expected);
    let row = Row::new().with("id", 1_i64).with("account_id", 2_i64);
    assert!(matches!(
        registry().validate("invoices", &row),
        Err(Error::DuplicateModel { .. })
    ));
    // Each type still works on its own.
    assert_eq!(billing::Invoice::from_row(&row).unwrap().id, 1);
    assert_eq!(reporting::InvoiceView::from_row(&row).unwrap().total, None);
}
