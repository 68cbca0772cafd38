//! The built-in statement rules: their ids, default decisions and what each
//! catches, in the order they are checked and rendered.

use super::Decision;

/// The built-in statement rules, in the order they are checked and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Rule {
    ParseError,
    TooComplex,
    StatementKind,
    Drop,
    Truncate,
    Alter,
    Create,
    Attach,
    Pragma,
    Transaction,
    Vacuum,
    OutsideScope,
    ForbiddenFunction,
    ReadOnly,
    ReadOnlyTable,
    PiiWrite,
    DeleteWithoutWhere,
    UpdateWithoutWhere,
    Upsert,
    ApprovalRequired,
    SelectStar,
    CartesianJoin,
    UnionAll,
}

/// A built-in rule: its id, default decision and what it catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    /// The stable id (used in hits and in `[profiles.x.rules]`).
    pub id: &'static str,
    /// The decision of every built-in profile unless a file overrides it.
    pub default: Decision,
    /// Whether the decision is fixed at `block` (fail closed).
    pub fixed: bool,
    /// One line.
    pub description: &'static str,
}

const fn info(id: &'static str, default: Decision, description: &'static str) -> RuleInfo {
    RuleInfo {
        id,
        default,
        fixed: false,
        description,
    }
}

/// Every built-in statement rule with its default decision.
pub const BUILTIN_RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "parse_error",
        default: Decision::Block,
        fixed: true,
        description: "SQL that does not parse (the parser's message is the reason)",
    },
    RuleInfo {
        id: "too_complex",
        default: Decision::Block,
        fixed: true,
        description: "SQL larger than 1 MiB or nested too deep to check safely",
    },
    info(
        "statement_kind",
        Decision::Block,
        "a statement kind outside the allowlist SELECT/WITH/VALUES, INSERT, UPDATE, DELETE",
    ),
    info("drop", Decision::Block, "DROP of anything"),
    info("truncate", Decision::Block, "TRUNCATE"),
    info("alter", Decision::Block, "ALTER of anything, RENAME"),
    info("create", Decision::Block, "CREATE of anything, SELECT INTO"),
    info("attach", Decision::Block, "ATTACH / DETACH DATABASE"),
    info("pragma", Decision::Block, "PRAGMA"),
    info(
        "transaction",
        Decision::Block,
        "BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE",
    ),
    info("vacuum", Decision::Block, "VACUUM"),
    info(
        "outside_scope",
        Decision::Block,
        "a table, schema-qualified name, sqlite_* table or table-valued function outside the scope",
    ),
    info(
        "forbidden_function",
        Decision::Block,
        "load_extension, readfile, writefile and other functions that leave the sandbox",
    ),
    info(
        "read_only",
        Decision::Block,
        "any write while the profile is read-only",
    ),
    info(
        "read_only_table",
        Decision::Block,
        "a write to a table scoped as read-only reference data",
    ),
    info(
        "pii_write",
        Decision::Block,
        "a write to a PII column (UPDATE SET, INSERT column list, INSERT without a column list, upsert SET)",
    ),
    info(
        "delete_without_where",
        Decision::Block,
        "DELETE without WHERE, or with a WHERE that is always true",
    ),
    info(
        "update_without_where",
        Decision::Block,
        "UPDATE without WHERE, or with a WHERE that is always true",
    ),
    info(
        "upsert",
        Decision::RequireApproval,
        "INSERT OR REPLACE, REPLACE INTO, UPDATE OR REPLACE, ON CONFLICT DO UPDATE: they delete or update existing rows",
    ),
    info(
        "approval_required",
        Decision::RequireApproval,
        "an operation listed in require_approval_for",
    ),
    info("select_star", Decision::Warn, "SELECT * or t.*"),
    info(
        "cartesian_join",
        Decision::Warn,
        "CROSS JOIN, or a join or comma join without a join condition",
    ),
    info("union_all", Decision::Warn, "UNION ALL"),
];

impl Rule {
    pub(crate) const ALL: [Rule; 23] = [
        Rule::ParseError,
        Rule::TooComplex,
        Rule::StatementKind,
        Rule::Drop,
        Rule::Truncate,
        Rule::Alter,
        Rule::Create,
        Rule::Attach,
        Rule::Pragma,
        Rule::Transaction,
        Rule::Vacuum,
        Rule::OutsideScope,
        Rule::ForbiddenFunction,
        Rule::ReadOnly,
        Rule::ReadOnlyTable,
        Rule::PiiWrite,
        Rule::DeleteWithoutWhere,
        Rule::UpdateWithoutWhere,
        Rule::Upsert,
        Rule::ApprovalRequired,
        Rule::SelectStar,
        Rule::CartesianJoin,
        Rule::UnionAll,
    ];

    pub(super) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn info(self) -> RuleInfo {
        BUILTIN_RULES
            .get(self.index())
            .copied()
            .unwrap_or(RuleInfo {
                id: "unknown",
                default: Decision::Block,
                fixed: true,
                description: "",
            })
    }

    pub(crate) fn id(self) -> &'static str {
        self.info().id
    }

    pub(crate) fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }
}
