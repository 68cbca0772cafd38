//! Every `#[validate(..)]` rule SafeModel supports, on plain and `Option` fields.

use std::sync::LazyLock;

use regex::Regex;
use safemodel::{SafeModel, ValidationError};

static SKU: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z]{3}-\d{4}$").unwrap());

const MAX_NAME: u64 = 80;

fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        Err(ValidationError::new("blank"))
    } else {
        Ok(())
    }
}

fn positive(value: &i64) -> Result<(), ValidationError> {
    if *value > 0 {
        Ok(())
    } else {
        Err(ValidationError::new("not_positive"))
    }
}

fn small(value: &[u8]) -> Result<(), ValidationError> {
    if value.len() > 10 {
        Err(ValidationError::new("large"))
    } else {
        Ok(())
    }
}

mod checks {
    pub fn lowercase(value: &str) -> Result<(), safemodel::ValidationError> {
        if value.chars().any(char::is_uppercase) {
            Err(safemodel::ValidationError::new("lowercase"))
        } else {
            Ok(())
        }
    }
}

#[derive(SafeModel)]
#[safemodel(table = "products", tenant = "shop_id")]
struct Product {
    #[safemodel(primary_key)]
    #[validate(custom(function = positive))]
    id: i64,
    shop_id: i64,
    #[validate(length(min = 1, max = MAX_NAME), custom(function = not_blank))]
    name: String,
    #[validate(length(equal = 2, message = "a country is two letters"))]
    country: Option<String>,
    #[validate(email)]
    contact: String,
    #[validate(email(message = "not an address"))]
    backup_contact: Option<String>,
    #[validate(url)]
    homepage: Option<String>,
    #[validate(regex(path = *SKU))]
    sku: String,
    #[validate(regex(path = SKU, message = "ABC-1234"))]
    old_sku: Option<String>,
    #[validate(regex(path = "SKU"))]
    legacy_sku: Option<String>,
    #[validate(custom(function = "checks::lowercase"))]
    slug: String,
    #[validate(range(min = 0, max = 100))]
    discount: i32,
    #[validate(range(exclusive_min = 0.0, exclusive_max = 1e9))]
    price: f64,
    #[validate(range(min = 1))]
    stock: Option<u32>,
    #[validate(length(min = 1))]
    #[validate(custom(function = small))]
    #[safemodel(rename = "bytes")]
    data: Option<Vec<u8>>,
}

fn main() {
    assert_eq!(Product::info().columns.len(), 15);
}
