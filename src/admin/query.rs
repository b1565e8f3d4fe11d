//! The mapping table's query string, shared by the console and the API: an id to search for,
//! a coverage, a sort column and direction, a page. Checked here, so the store only ever sees
//! known column names.

use serde::{Deserialize, Serialize};

use super::coverage::Coverage;
use crate::store::{MappingFilter, SortKey};

/// Rows on one page of the console's table.
pub const PAGE_SIZE: i64 = 50;
/// The most rows the API returns at once.
pub const MAX_PER_PAGE: i64 = 500;
/// Far beyond any real table, and small enough that `page * MAX_PER_PAGE` cannot overflow.
pub const MAX_PAGE: i64 = 1_000_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MappingQuery {
    /// Any id: AURA customer or subscription id, gateway customer or subscription id.
    pub q: Option<String>,
    /// covered, pending, lapsed or failed.
    pub coverage: Option<String>,
    /// customer, status, paid_through, valid_to, coverage or changed (the default).
    pub sort: Option<String>,
    /// asc or desc (the default).
    pub dir: Option<String>,
    /// From 1.
    pub page: Option<i64>,
    /// API only: rows per page, 1 to 500 (default 50).
    pub per_page: Option<i64>,
}

impl MappingQuery {
    /// The filter and the page number, or what is wrong with the query.
    pub fn parse(&self) -> Result<(MappingFilter, i64), String> {
        let coverage = match self.coverage.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Coverage::parse(c).ok_or_else(|| {
                format!("coverage {c:?} is not covered, pending, lapsed or failed")
            })?),
        };
        let sort = match self.sort.as_deref().filter(|s| !s.is_empty()) {
            None => SortKey::default(),
            Some(s) => SortKey::parse(s).ok_or_else(|| format!("cannot sort by {s:?}"))?,
        };
        let descending = match self.dir.as_deref() {
            None | Some("") | Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(format!("dir {other:?} is not asc or desc")),
        };
        let page = self.page.unwrap_or(1);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(format!("page is from 1 to {MAX_PAGE}"));
        }
        let search: Option<String> = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(200).collect());
        if search
            .as_deref()
            .is_some_and(|q| q.chars().any(char::is_control))
        {
            return Err("the search may not hold control characters".into());
        }
        Ok((
            MappingFilter {
                search,
                coverage,
                sort,
                descending,
            },
            page,
        ))
    }

    /// Rows per page for the API.
    pub fn per_page(&self) -> Result<i64, String> {
        match self.per_page {
            None => Ok(PAGE_SIZE),
            Some(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(format!("perPage is from 1 to {MAX_PER_PAGE}")),
        }
    }

    /// The URL of the same view at `path`, on another page (or without one).
    pub fn url(&self, path: &str, page: Option<i64>) -> String {
        let q = Self {
            page,
            per_page: None,
            ..self.clone()
        };
        match serde_urlencoded::to_string(&q) {
            Ok(qs) if !qs.is_empty() => format!("{path}?{qs}"),
            _ => path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_query_is_every_row_newest_change_first() {
        let (f, page) = MappingQuery::default().parse().unwrap();
        assert_eq!(
            (f.search, f.coverage, f.sort, f.descending, page),
            (None, None, SortKey::Changed, true, 1)
        );
    }

    #[test]
    fn unknown_values_are_refused_with_the_reason() {
        for q in [
            MappingQuery {
                coverage: Some("fine".into()),
                ..Default::default()
            },
            MappingQuery {
                sort: Some("name; DROP TABLE x".into()),
                ..Default::default()
            },
            MappingQuery {
                dir: Some("up".into()),
                ..Default::default()
            },
            MappingQuery {
                page: Some(0),
                ..Default::default()
            },
            MappingQuery {
                page: Some(i64::MAX),
                ..Default::default()
            },
        ] {
            assert!(q.parse().is_err(), "{q:?}");
        }
        let q = MappingQuery {
            per_page: Some(501),
            ..Default::default()
        };
        assert!(q.per_page().is_err());
    }

    #[test]
    fn page_links_keep_the_filter() {
        let q = MappingQuery {
            q: Some("cus 1".into()),
            coverage: Some("failed".into()),
            ..Default::default()
        };
        assert_eq!(
            q.url("/admin", Some(2)),
            "/admin?q=cus+1&coverage=failed&page=2"
        );
        assert_eq!(
            MappingQuery::default().url("/admin/export.csv", None),
            "/admin/export.csv"
        );
    }
}
