//! The transactional store of records: containers, images, and whatever else must survive a
//! crash of berthd.
//!
//! One [`Store`] is one redb file. Records are JSON values in named tables, keyed by strings.
//! Writes go through [`Store::write`], which runs a closure inside one redb write transaction:
//! either every change in the closure is committed, or none is. A crash mid-transaction leaves
//! the previous state, so no half-created record can survive.
#![deny(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use berth_errdefs::{HasKind, Kind};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened, read or written.
    #[error("metadata store: {0}")]
    Db(String),
    /// A record could not be encoded or decoded.
    #[error("metadata record {key:?} in {table}: {source}")]
    Codec {
        /// The table of the record.
        table: &'static str,
        /// The key of the record.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        Kind::Internal
    }
}

fn db<E: std::fmt::Display>(e: E) -> Error {
    Error::Db(e.to_string())
}

/// A table of JSON records keyed by string. Declare tables as constants:
/// `const CONTAINERS: Table = Table::new("containers");`
#[derive(Debug, Clone, Copy)]
pub struct Table {
    name: &'static str,
}

impl Table {
    /// A table called `name`.
    pub const fn new(name: &'static str) -> Self {
        Table { name }
    }
    fn def(&self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name)
    }
}

/// The store: cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Store {
    db: Arc<redb::Database>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// The changes of one write transaction.
pub struct Tx<'a> {
    tx: &'a redb::WriteTransaction,
}

impl Tx<'_> {
    /// Insert or replace the record at `key`.
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<(), Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|source| Error::Codec { table: table.name, key: key.into(), source })?;
        let mut t = self.tx.open_table(table.def()).map_err(db)?;
        t.insert(key, bytes.as_slice()).map_err(db)?;
        Ok(())
    }
    /// Remove the record at `key`; true if there was one.
    pub fn delete(&self, table: Table, key: &str) -> Result<bool, Error> {
        let mut t = self.tx.open_table(table.def()).map_err(db)?;
        let old = t.remove(key).map_err(db)?;
        Ok(old.is_some())
    }
    /// Read a record inside the transaction (sees the transaction's own writes).
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>, Error> {
        let t = self.tx.open_table(table.def()).map_err(db)?;
        let v = t.get(key).map_err(db)?;
        match v {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|source| Error::Codec { table: table.name, key: key.into(), source }),
        }
    }
}

impl Store {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let db = redb::Database::create(path).map_err(db)?;
        Ok(Store { db: Arc::new(db) })
    }

    /// Run `f` in one write transaction and commit it durably if `f` returns `Ok`.
    /// On `Err` nothing `f` wrote is kept.
    pub fn write<R, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<Error>,
    {
        self.write_with(redb::Durability::Immediate, f)
    }

    /// Like [`Store::write`], but the commit is atomic and not yet durable: a crash may lose
    /// it (and every lazy commit after the last durable one), never tear it. For state that can
    /// be re-derived after a crash, on hot paths where an fsync per change costs too much.
    pub fn write_lazy<R, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<Error>,
    {
        self.write_with(redb::Durability::None, f)
    }

    fn write_with<R, E>(&self, durability: redb::Durability, f: impl FnOnce(&Tx<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<Error>,
    {
        let mut tx = self.db.begin_write().map_err(db)?;
        tx.set_durability(durability).map_err(db)?;
        let r = f(&Tx { tx: &tx });
        match r {
            Ok(v) => {
                tx.commit().map_err(db)?;
                Ok(v)
            }
            Err(e) => {
                tx.abort().map_err(db)?;
                Err(e)
            }
        }
    }

    /// Read one record.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>, Error> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = match tx.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db(e)),
        };
        match t.get(key).map_err(db)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|source| Error::Codec { table: table.name, key: key.into(), source }),
        }
    }

    /// Every record of a table, in key order.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>, Error> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = match tx.open_table(table.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db(e)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(db)? {
            let (k, v) = item.map_err(db)?;
            let key = k.value().to_string();
            let val = serde_json::from_slice(v.value())
                .map_err(|source| Error::Codec { table: table.name, key: key.clone(), source })?;
            out.push((key, val));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table::new("things");

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("meta.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn put_get_list_delete() {
        let (_d, s) = store();
        assert_eq!(s.get::<u32>(T, "a").unwrap(), None);
        s.write(|tx| {
            tx.put(T, "b", &2u32)?;
            tx.put(T, "a", &1u32)
        })
        .unwrap();
        assert_eq!(s.get::<u32>(T, "a").unwrap(), Some(1));
        let all: Vec<(String, u32)> = s.list(T).unwrap();
        assert_eq!(all, vec![("a".into(), 1), ("b".into(), 2)]);
        let gone = s.write(|tx| tx.delete(T, "a")).unwrap();
        assert!(gone);
        assert_eq!(s.get::<u32>(T, "a").unwrap(), None);
    }

    #[test]
    fn failed_transaction_keeps_nothing() {
        let (_d, s) = store();
        let r: Result<(), Error> = s.write(|tx| {
            tx.put(T, "half", &1u32)?;
            Err(Error::Db("injected".into()))
        });
        assert!(r.is_err());
        assert_eq!(s.get::<u32>(T, "half").unwrap(), None);
    }

    #[test]
    fn lazy_writes_are_visible_and_made_durable_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.db");
        {
            let s = Store::open(&p).unwrap();
            s.write_lazy(|tx| tx.put(T, "lazy", &1u32)).unwrap();
            assert_eq!(s.get::<u32>(T, "lazy").unwrap(), Some(1));
            s.write(|tx| tx.put(T, "durable", &2u32)).unwrap();
        }
        let s = Store::open(&p).unwrap();
        assert_eq!(s.get::<u32>(T, "lazy").unwrap(), Some(1));
        assert_eq!(s.get::<u32>(T, "durable").unwrap(), Some(2));
    }

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("meta.db");
        {
            let s = Store::open(&p).unwrap();
            s.write(|tx| tx.put(T, "k", &"v")).unwrap();
        }
        let s = Store::open(&p).unwrap();
        assert_eq!(s.get::<String>(T, "k").unwrap().as_deref(), Some("v"));
    }
}
