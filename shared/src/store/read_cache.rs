//! Reads of the embedded store answered from memory.
//!
//! Coherent only because one process owns the database file (a lock on `{file}.lock`): every
//! write goes through that process's commit, which drops each entry the write may change before
//! it commits — the item's own key, and the cached queries of every index partition the item was
//! in before the write or is in after it. A reader fills the cache while it still holds the
//! connection, so a commit can never slip between its read and its fill. Bounded: when it holds
//! `CAPACITY` entries of either kind it starts over empty, and it keeps no answer of more than
//! `MAX_ANSWER_ITEMS` items.

use std::collections::HashMap;

use super::table::{Index, Item, Key, Query};

const CAPACITY: usize = 512;

/// Longer answers (the worker's scans of due events, say) are not kept: they are read once and
/// would hold many large items.
const MAX_ANSWER_ITEMS: usize = 4;

/// An index partition: the index and its partition key.
type Partition = (Index, String);

/// The queries answered from one partition, with their answers.
type Answers = Vec<(Query, Vec<Item>)>;

#[derive(Default)]
pub struct ReadCache {
    items: HashMap<Key, Item>,
    queries: HashMap<Partition, Answers>,
}

fn live(item: &Item, now_secs: i64) -> bool {
    item.expires_at.is_none_or(|at| at > now_secs)
}

impl ReadCache {
    /// The cached live item, if this key was read since it was last written. `None` = ask the
    /// database (an absent item is not cached).
    pub fn item(&self, key: &Key, now_secs: i64) -> Option<Item> {
        self.items.get(key).filter(|item| live(item, now_secs)).cloned()
    }

    pub fn remember_item(&mut self, item: &Item) {
        if self.items.len() >= CAPACITY {
            self.items.clear();
        }
        self.items.insert(item.key.clone(), item.clone());
    }

    /// The cached answer to `query`, unless one of its items has expired since (the database
    /// would now answer without it, and perhaps with an item the limit left out).
    pub fn query(&self, query: &Query, now_secs: i64) -> Option<Vec<Item>> {
        let answers = self.queries.get(&(query.index, query.pk.clone()))?;
        let (_, items) = answers.iter().find(|(asked, _)| asked == query)?;
        items.iter().all(|item| live(item, now_secs)).then(|| items.clone())
    }

    pub fn remember_query(&mut self, query: &Query, items: &[Item]) {
        if items.len() > MAX_ANSWER_ITEMS {
            return;
        }
        if self.queries.len() >= CAPACITY {
            self.queries.clear();
        }
        let answers = self.queries.entry((query.index, query.pk.clone())).or_default();
        answers.retain(|(asked, _)| asked != query);
        if answers.len() >= MAX_ANSWER_ITEMS {
            // A partition asked many different ways (a scan bounded by the time, say): keep the latest.
            answers.remove(0);
        }
        answers.push((query.clone(), items.to_vec()));
    }

    /// Drops what a write of `key` may change. `partitions` are the item's index partitions
    /// before and after the write: (index, partition key) pairs.
    pub fn forget_write<'a>(&mut self, key: &Key, partitions: impl IntoIterator<Item = (Index, &'a str)>) {
        self.items.remove(key);
        self.forget_partition(Index::Primary, &key.pk);
        for (index, pk) in partitions {
            self.forget_partition(index, pk);
        }
    }

    fn forget_partition(&mut self, index: Index, pk: &str) {
        if !self.queries.is_empty() {
            self.queries.remove(&(index, pk.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::table::SkRange;

    fn item(pk: &str, sk: &str, gsi1: Option<(&str, &str)>, expires_at: Option<i64>) -> Item {
        Item {
            key: Key::new(pk, sk),
            kind: "thing".into(),
            version: 1,
            data: "{}".into(),
            gsi1: gsi1.map(|(pk, sk)| Key::new(pk, sk)),
            gsi2: None,
            expires_at,
        }
    }

    fn query(index: Index, pk: &str, prefix: &str, limit: usize) -> Query {
        Query {
            index,
            pk: pk.into(),
            sk: SkRange::Prefix(prefix.into()),
            limit,
        }
    }

    #[test]
    fn an_item_is_served_until_its_key_is_written_or_it_expires() {
        let mut cache = ReadCache::default();
        let thing = item("A", "1", None, Some(100));
        cache.remember_item(&thing);
        assert_eq!(cache.item(&thing.key, 99), Some(thing.clone()));
        assert_eq!(cache.item(&thing.key, 100), None, "expired");
        cache.forget_write(&Key::new("A", "2"), []);
        assert_eq!(cache.item(&thing.key, 99), Some(thing.clone()), "another key");
        cache.forget_write(&thing.key, []);
        assert_eq!(cache.item(&thing.key, 99), None);
    }

    #[test]
    fn a_query_is_forgotten_when_any_partition_it_reads_is_written() {
        let mut cache = ReadCache::default();
        let link = item("INT#i", "LINK#7", Some(("WI#42", "LINK#7")), None);
        let linked = query(Index::Gsi1, "WI#42", "LINK#", 1);
        cache.remember_query(&linked, std::slice::from_ref(&link));
        assert_eq!(cache.query(&linked, 0), Some(vec![link.clone()]));
        assert_eq!(
            cache.query(&query(Index::Gsi1, "WI#42", "LINK#", 2), 0),
            None,
            "another limit"
        );
        // An unrelated write keeps it; a write that moves an item out of (or into) the partition drops it.
        cache.forget_write(&Key::new("EVT#x", "EVENT"), [(Index::Gsi1, "DUE")]);
        assert!(cache.query(&linked, 0).is_some());
        cache.forget_write(&link.key, [(Index::Gsi1, "WI#42"), (Index::Gsi1, "WI#43")]);
        assert_eq!(cache.query(&linked, 0), None);
    }

    #[test]
    fn a_query_with_an_expired_item_is_asked_again() {
        let mut cache = ReadCache::default();
        let lease = item("LEASE", "x", None, Some(50));
        let leases = query(Index::Primary, "LEASE", "", 10);
        cache.remember_query(&leases, std::slice::from_ref(&lease));
        assert!(cache.query(&leases, 49).is_some());
        assert_eq!(cache.query(&leases, 50), None);
    }

    #[test]
    fn a_primary_query_is_forgotten_when_an_item_of_its_partition_is_written() {
        let mut cache = ReadCache::default();
        let history = query(Index::Primary, "INT#i", "LINKHIST#", 100);
        cache.remember_query(&history, &[]);
        assert_eq!(cache.query(&history, 0), Some(vec![]));
        cache.forget_write(&Key::new("INT#i", "LINKHIST#9"), []);
        assert_eq!(cache.query(&history, 0), None);
    }

    #[test]
    fn long_answers_are_not_kept() {
        let mut cache = ReadCache::default();
        let scan = query(Index::Gsi1, "DUE", "", 100);
        let items: Vec<Item> = (0..=MAX_ANSWER_ITEMS)
            .map(|n| item("E", &n.to_string(), None, None))
            .collect();
        cache.remember_query(&scan, &items);
        assert_eq!(cache.query(&scan, 0), None);
        cache.remember_query(&scan, &items[..MAX_ANSWER_ITEMS]);
        assert!(cache.query(&scan, 0).is_some());
    }

    #[test]
    fn it_starts_over_when_full() {
        let mut cache = ReadCache::default();
        for n in 0..CAPACITY {
            cache.remember_item(&item("A", &n.to_string(), None, None));
        }
        let last = item("B", "last", None, None);
        cache.remember_item(&last);
        assert_eq!(cache.items.len(), 1);
        assert!(cache.item(&last.key, 0).is_some());
    }
}
