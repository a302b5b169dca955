//! "Did you mean …?": the known name closest to a mistyped one, for error help.

/// The candidate nearest to `name` by edit distance (letter case ignored), if it is near enough
/// to be a typo of it: at most a third of the name's letters apart, and at most 4.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).clamp(1, 4);
    candidates
        .into_iter()
        .map(|c| (distance(&name, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Edit distance between `a` and `b` by characters, a swap of two neighbours counting as one
/// edit (the optimal string alignment distance): `qeury` is one edit from `query`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name_and_strangers_find_none() {
        let names = ["shelf_id", "book_name", "page_size", "id"];
        assert_eq!(closest("shelf_idd", names), Some("shelf_id"));
        assert_eq!(closest("bookname", names), Some("book_name"));
        assert_eq!(closest("Page_Size", names), Some("page_size"));
        assert_eq!(closest("title", names), None);
        assert_eq!(
            closest(
                "shelf.v1.Shelves.GetShelff",
                ["shelf.v1.Shelves.GetShelf", "shelf.v1.Shelves.GetShelves"]
            ),
            Some("shelf.v1.Shelves.GetShelf")
        );
        assert_eq!(closest("qeury", ["query", "name"]), Some("query"));
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ab", "ba"), 1);
    }
}
