//! What every backend provides to the store's statements: run one statement
//! with parameters, or one query that returns rows. The statements are
//! written once, in PostgreSQL's dialect (`$n` parameters), and the SQLite
//! backend reads `$n` as `?n`; values cross as a handful of plain types.

use super::StoreError;

/// One bound parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// `BIGINT` / `INTEGER`.
    Int(Option<i64>),
    /// `TEXT`.
    Text(Option<&'a str>),
    /// `BYTEA` / `BLOB`.
    Blob(Option<&'a [u8]>),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Self::Blob(Some(v))
    }
}

/// One value read back.
#[derive(Debug, Clone, Default)]
pub(crate) enum Cell {
    /// SQL `NULL`.
    #[default]
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// One row read back, its cells in the order of the statement's columns.
#[derive(Debug, Default)]
pub(crate) struct Row(pub(crate) Vec<Cell>);

impl Row {
    fn take(&mut self, i: usize) -> Cell {
        self.0.get_mut(i).map(std::mem::take).unwrap_or_default()
    }

    /// Column `i` as an integer.
    pub(crate) fn int(&mut self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Shape(format!("column {i} is NULL")))
    }

    /// Column `i` as an integer or `NULL`.
    pub(crate) fn opt_int(&mut self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.take(i) {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(v)),
            _ => Err(StoreError::Shape(format!("column {i} is not an integer"))),
        }
    }

    /// Column `i` as text.
    pub(crate) fn text(&mut self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Shape(format!("column {i} is NULL")))
    }

    /// Column `i` as text or `NULL`.
    pub(crate) fn opt_text(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.take(i) {
            Cell::Null => Ok(None),
            Cell::Text(v) => Ok(Some(v)),
            _ => Err(StoreError::Shape(format!("column {i} is not text"))),
        }
    }

    /// Column `i` as bytes or `NULL`.
    pub(crate) fn opt_blob(&mut self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.take(i) {
            Cell::Null => Ok(None),
            Cell::Blob(v) => Ok(Some(v)),
            _ => Err(StoreError::Shape(format!("column {i} is not bytes"))),
        }
    }
}

/// A connection (or a transaction on one) that runs the store's statements.
pub(crate) trait Sql {
    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>])
    -> Result<u64, StoreError>;

    /// Runs a query; returns its rows.
    async fn query(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, StoreError>;
}
