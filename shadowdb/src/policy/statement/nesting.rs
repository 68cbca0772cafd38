//! A bound on what a script's tokens can make the parser and the tree walks
//! do, computed before parsing: a stack overflow aborts the process.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

/// Above this nesting depth (see [`Nesting`]) a script is blocked as `too_complex`.
pub(super) const MAX_NESTING: usize = 2048;

/// Bounds on what the tokens can make the parser and the tree walks do.
///
/// Parentheses, brackets and braces nest (the parser's recursion limit bounds
/// them too); within one nesting level every operator token (any punctuation,
/// and the keywords that continue an expression or a set operation) may add a
/// level to the tree, until a comma starts a sibling expression. `depth` is the
/// largest sum over the open levels, counting each token once; `cost` weighs
/// the tokens by the stack the parser spends on them (an open parenthesis 10,
/// `NOT` and `CASE` 5, a sign 2, any other operator 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Nesting {
    pub(super) depth: usize,
    pub(super) cost: usize,
}

impl Nesting {
    pub(super) fn of(tokens: &[TokenWithSpan]) -> Nesting {
        // Per open level: (depth, cost) added since its last comma.
        let mut levels: Vec<(usize, usize)> = vec![(0, 0)];
        let (mut depth, mut cost) = (0usize, 0usize);
        let mut max = Nesting { depth: 0, cost: 0 };
        for t in tokens {
            let weight = match &t.token {
                Token::Whitespace(_)
                | Token::EOF
                | Token::Number(..)
                | Token::Char(_)
                | Token::SingleQuotedString(_)
                | Token::DoubleQuotedString(_)
                | Token::SingleQuotedByteStringLiteral(_)
                | Token::DoubleQuotedByteStringLiteral(_)
                | Token::NationalStringLiteral(_)
                | Token::EscapedStringLiteral(_)
                | Token::HexStringLiteral(_)
                | Token::Placeholder(_) => 0,
                Token::Word(w) if w.quote_style.is_none() => match w.keyword {
                    Keyword::NOT | Keyword::CASE => 5,
                    k if is_operator_keyword(k) => 1,
                    _ => 0,
                },
                Token::Word(_) => 0,
                Token::Comma => {
                    if let Some((d, c)) = levels.last_mut() {
                        depth = depth.saturating_sub(*d);
                        cost = cost.saturating_sub(*c);
                        (*d, *c) = (0, 0);
                    }
                    0
                }
                Token::SemiColon => {
                    levels.clear();
                    levels.push((0, 0));
                    (depth, cost) = (0, 0);
                    0
                }
                Token::LParen | Token::LBracket | Token::LBrace => {
                    add(&mut levels, &mut depth, &mut cost, 10);
                    levels.push((0, 0));
                    0
                }
                Token::RParen | Token::RBracket | Token::RBrace => {
                    if levels.len() > 1
                        && let Some((d, c)) = levels.pop()
                    {
                        depth = depth.saturating_sub(d);
                        cost = cost.saturating_sub(c);
                    }
                    0
                }
                Token::Minus | Token::Plus | Token::Tilde => 2,
                _ => 1,
            };
            if weight > 0 {
                add(&mut levels, &mut depth, &mut cost, weight);
            }
            max.depth = max.depth.max(depth + levels.len());
            max.cost = max.cost.max(cost + levels.len());
            if max.depth > MAX_NESTING {
                break;
            }
        }
        max
    }
}

fn add(levels: &mut [(usize, usize)], depth: &mut usize, cost: &mut usize, weight: usize) {
    if let Some((d, c)) = levels.last_mut() {
        *d += 1;
        *c += weight;
        *depth += 1;
        *cost += weight;
    }
}

fn is_operator_keyword(k: Keyword) -> bool {
    matches!(
        k,
        Keyword::AND
            | Keyword::OR
            | Keyword::XOR
            | Keyword::NOT
            | Keyword::IS
            | Keyword::NOTNULL
            | Keyword::IN
            | Keyword::BETWEEN
            | Keyword::LIKE
            | Keyword::ILIKE
            | Keyword::RLIKE
            | Keyword::GLOB
            | Keyword::REGEXP
            | Keyword::MATCH
            | Keyword::SIMILAR
            | Keyword::ESCAPE
            | Keyword::COLLATE
            | Keyword::DIV
            | Keyword::AT
            | Keyword::MEMBER
            | Keyword::OVERLAPS
            | Keyword::OPERATOR
            | Keyword::UNION
            | Keyword::EXCEPT
            | Keyword::INTERSECT
            | Keyword::MINUS
            | Keyword::CASE
    )
}
