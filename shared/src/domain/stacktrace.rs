//! Stack-trace links: a Sentry frame's file, through the project's code mappings, to the file's
//! page in Azure Repos at that line. The longest matching stack root wins; its prefix is replaced
//! by the mapping's source root. A path that would leave the source root (`..`) maps nowhere.

use url::Url;

use crate::records::CodeMapping;

/// Why a frame has no link (shown to the person who clicked, on a short page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoLink {
    NoMapping,
    OutsideSourceRoot,
}

impl NoLink {
    pub fn explain(&self) -> &'static str {
        match self {
            NoLink::NoMapping => {
                "No code mapping of this Sentry project matches this file. Add one with POST /integrations/{id}/code-mappings."
            }
            NoLink::OutsideSourceRoot => "This file path leaves the mapped source folder.",
        }
    }
}

/// A path as written in a frame or a mapping: `/` separators, no leading `./` or `/`.
pub fn normalize(path: &str) -> String {
    let mut path = path.trim().replace('\\', "/");
    loop {
        if let Some(rest) = path.strip_prefix("./") {
            path = rest.to_string();
        } else if let Some(rest) = path.strip_prefix('/') {
            path = rest.to_string();
        } else {
            return path;
        }
    }
}

/// The mapping for `filename` in `project` and the file's path in the repository (no leading `/`).
pub fn map_frame<'a>(
    mappings: &'a [CodeMapping],
    project: &str,
    filename: &str,
) -> Result<(&'a CodeMapping, String), NoLink> {
    let file = normalize(filename);
    if file.is_empty() || file.split('/').any(|segment| segment == "..") {
        return Err(NoLink::OutsideSourceRoot);
    }
    let mapping = mappings
        .iter()
        .filter(|m| m.sentry_project.eq_ignore_ascii_case(project))
        .filter(|m| file.starts_with(&normalize(&m.stack_root)))
        .max_by_key(|m| normalize(&m.stack_root).len())
        .ok_or(NoLink::NoMapping)?;
    let rest = &file[normalize(&mapping.stack_root).len()..];
    let source_root = normalize(&mapping.source_root);
    let path = match (
        source_root.is_empty(),
        source_root.ends_with('/'),
        rest.starts_with('/'),
    ) {
        (true, _, _) => rest.trim_start_matches('/').to_string(),
        (false, true, _) | (false, false, true) => format!("{source_root}{rest}"),
        (false, false, false) => format!("{source_root}/{rest}"),
    };
    Ok((mapping, path))
}

/// The file's page in Azure Repos: `{repository url}?path=/<file>&version=GB<branch>` and, given a
/// line, the line selected.
pub fn source_url(repository_url: &str, path: &str, branch: &str, line: Option<u64>) -> Option<String> {
    let mut url = Url::parse(repository_url).ok()?;
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        query.append_pair("path", &format!("/{path}"));
        query.append_pair("version", &format!("GB{branch}"));
        if let Some(line) = line {
            let line = line.to_string();
            query
                .append_pair("line", &line)
                .append_pair("lineEnd", &line)
                .append_pair("lineStartColumn", "1")
                .append_pair("lineEndColumn", "1")
                .append_pair("lineStyle", "plain");
        }
        query.append_pair("_a", "contents");
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(id: &str, project: &str, stack_root: &str, source_root: &str) -> CodeMapping {
        CodeMapping {
            integration_id: "i".into(),
            id: id.into(),
            sentry_project: project.into(),
            repository: "r".into(),
            branch: "main".into(),
            stack_root: stack_root.into(),
            source_root: source_root.into(),
            created_at: 0,
            version: 1,
        }
    }

    #[test]
    fn the_longest_stack_root_wins_and_is_replaced_by_the_source_root() {
        let mappings = [
            mapping("short", "backend", "app/", "src/"),
            mapping("long", "backend", "app/billing/", "services/billing/src/"),
            mapping("other", "web", "app/", "web/"),
        ];
        let (m, path) = map_frame(&mappings, "backend", "app/models/user.py").unwrap();
        assert_eq!((m.id.as_str(), path.as_str()), ("short", "src/models/user.py"));
        let (m, path) = map_frame(&mappings, "backend", "./app/billing/invoice.py").unwrap();
        assert_eq!(
            (m.id.as_str(), path.as_str()),
            ("long", "services/billing/src/invoice.py")
        );
        let (_, path) = map_frame(&[mapping("x", "backend", "", "")], "backend", "/lib/a.py").unwrap();
        assert_eq!(path, "lib/a.py");
        let (_, path) = map_frame(&[mapping("x", "backend", "app", "src")], "backend", "app/a.py").unwrap();
        assert_eq!(path, "src/a.py");
    }

    #[test]
    fn no_mapping_or_a_path_that_leaves_the_root_links_nowhere() {
        let mappings = [mapping("short", "backend", "app/", "src/")];
        assert_eq!(
            map_frame(&mappings, "backend", "lib/a.py").unwrap_err(),
            NoLink::NoMapping
        );
        assert_eq!(map_frame(&mappings, "web", "app/a.py").unwrap_err(), NoLink::NoMapping);
        for escape in ["app/../../etc/passwd", "app/..", "..\\secrets.txt"] {
            assert_eq!(
                map_frame(&mappings, "backend", escape).unwrap_err(),
                NoLink::OutsideSourceRoot,
                "{escape}"
            );
        }
    }

    #[test]
    fn the_url_opens_the_file_at_the_line() {
        let url = source_url(
            "https://dev.azure.com/org/Fabrikam/_git/web",
            "src/a b.py",
            "main",
            Some(42),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://dev.azure.com/org/Fabrikam/_git/web?path=%2Fsrc%2Fa+b.py&version=GBmain&line=42&lineEnd=42\
             &lineStartColumn=1&lineEndColumn=1&lineStyle=plain&_a=contents"
        );
        let no_line = source_url("https://dev.azure.com/org/P/_git/web", "a.py", "dev", None).unwrap();
        assert_eq!(
            no_line,
            "https://dev.azure.com/org/P/_git/web?path=%2Fa.py&version=GBdev&_a=contents"
        );
    }
}
