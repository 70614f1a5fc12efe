//! Which stages a build needs and how its steps are numbered (pure).
//!
//! A stage depends on another when its FROM names it, or a `COPY --from` / `RUN --mount
//! from=` names it (by name, or for `--from` by index). The target (by name, else the last
//! stage) and what it depends on, transitively, are built; the rest is skipped. Steps are
//! numbered as dockerd does — meta ARGs first, then per built stage its FROM and its
//! instructions, in file order — so the totals printed in `Step i/n` count built steps only.

use std::collections::BTreeSet;

use berth_dockerfile::{Dockerfile, Kind};
use berth_errdefs::{Error, Result};

/// A reference from one stage to something built or pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// An earlier stage, by index.
    Stage(usize),
    /// An image (or `scratch`).
    Image(String),
}

/// Resolve a FROM base (already expanded) seen from stage `at`: an earlier stage's name, or an
/// image.
pub(crate) fn resolve_base(df: &Dockerfile, at: usize, base: &str) -> Source {
    let lower = base.to_ascii_lowercase();
    for (i, s) in df.stages.iter().enumerate().take(at) {
        if s.name.as_deref() == Some(lower.as_str()) {
            return Source::Stage(i);
        }
    }
    Source::Image(base.to_string())
}

/// Resolve a `--from` value seen from stage `at`: an earlier stage's name or index, or an
/// image. The current or a later stage is an error, as dockerd says it.
pub(crate) fn resolve_from(df: &Dockerfile, at: usize, from: &str) -> Result<Source> {
    let lower = from.to_ascii_lowercase();
    for (i, s) in df.stages.iter().enumerate() {
        if s.name.as_deref() == Some(lower.as_str()) {
            if i >= at {
                return Err(Error::invalid(format!("invalid from flag value {from}: stage {from} is not built before this stage")));
            }
            return Ok(Source::Stage(i));
        }
    }
    if let Ok(i) = from.parse::<usize>() {
        if i == at {
            return Err(Error::invalid(format!("invalid from flag value {from}: refers to current build stage")));
        }
        if i > at {
            return Err(Error::invalid(format!("invalid from flag value {from}: index out of bounds")));
        }
        return Ok(Source::Stage(i));
    }
    Ok(Source::Image(from.to_string()))
}

/// The stages stage `i` needs (`expand` turns a raw base into its value with the meta ARGs).
pub(crate) fn deps(df: &Dockerfile, i: usize, expand: &dyn Fn(&str) -> String) -> Vec<usize> {
    let mut out = BTreeSet::new();
    let s = &df.stages[i];
    if let Source::Stage(j) = resolve_base(df, i, &expand(&s.base)) {
        out.insert(j);
    }
    for ins in &s.instructions {
        let froms: Vec<&str> = match &ins.kind {
            Kind::Copy(c) | Kind::Add(c) => c.from.as_deref().into_iter().collect(),
            Kind::Run(r) => r.mounts.iter().filter_map(|m| m.from.as_deref()).collect(),
            _ => Vec::new(),
        };
        for f in froms {
            if let Ok(Source::Stage(j)) = resolve_from(df, i, &expand(f)) {
                out.insert(j);
            }
        }
    }
    out.into_iter().collect()
}

/// The stage to build up to: `target` by name, else the last one.
pub(crate) fn target_index(df: &Dockerfile, target: Option<&str>) -> Result<usize> {
    if df.stages.is_empty() {
        return Err(Error::invalid("dockerfile parse error: file with no instructions"));
    }
    match target {
        None => Ok(df.stages.len() - 1),
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            df.stages
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| Error::invalid(format!("target stage \"{t}\" could not be found")))
        }
    }
}

/// The stages to build for `target`, sorted.
pub(crate) fn needed(df: &Dockerfile, target: usize, expand: &dyn Fn(&str) -> String) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if seen.insert(i) {
            todo.extend(deps(df, i, expand));
        }
    }
    seen.into_iter().collect()
}

/// Step numbers: the first number of each needed stage (its FROM), and the total.
pub(crate) fn numbering(df: &Dockerfile, needed: &[usize], extra_last: usize) -> (Vec<(usize, usize)>, usize) {
    let mut n = df.meta_args.len() + 1;
    let mut firsts = Vec::new();
    for (k, &i) in needed.iter().enumerate() {
        firsts.push((i, n));
        n += 1 + df.stages[i].instructions.len();
        if k + 1 == needed.len() {
            n += extra_last;
        }
    }
    (firsts, n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_dockerfile::{Copy, Instruction, Stage};

    fn stage(name: Option<&str>, base: &str, copy_from: &[&str], runs: usize) -> Stage {
        let mut instructions: Vec<Instruction> = copy_from
            .iter()
            .map(|f| Instruction {
                line: 1,
                original: format!("COPY --from={f} /a /b"),
                kind: Kind::Copy(Copy {
                    sources: vec!["/a".into()],
                    dest: "/b".into(),
                    from: Some(f.to_string()),
                    chown: None,
                    chmod: None,
                    link: false,
                    heredocs: vec![],
                }),
            })
            .collect();
        for _ in 0..runs {
            instructions.push(Instruction { line: 1, original: "WORKDIR /".into(), kind: Kind::Workdir("/".into()) });
        }
        Stage {
            name: name.map(str::to_string),
            base: base.into(),
            platform: None,
            line: 1,
            original: format!("FROM {base}"),
            instructions,
        }
    }

    fn df(stages: Vec<Stage>, meta: usize) -> Dockerfile {
        Dockerfile {
            escape: '\\',
            syntax: None,
            meta_args: (0..meta).map(|i| berth_dockerfile::ArgDecl { name: format!("A{i}"), default: None }).collect(),
            stages,
        }
    }

    #[test]
    fn only_stages_the_target_needs_are_built() {
        let id = |s: &str| s.replace("$BASE", "busybox");
        let d = df(
            vec![
                stage(Some("base"), "$BASE", &[], 1),       // 0
                stage(Some("unused"), "busybox", &[], 2),   // 1
                stage(Some("build"), "base", &[], 1),       // 2
                stage(Some("assets"), "busybox", &[], 1),   // 3
                stage(None, "scratch", &["build", "3"], 0), // 4
            ],
            1,
        );
        let cases: Vec<(Option<&str>, Result<Vec<usize>, &str>)> = vec![
            (None, Ok(vec![0, 2, 3, 4])),
            (Some("build"), Ok(vec![0, 2])),
            (Some("BASE"), Ok(vec![0])),
            (Some("unused"), Ok(vec![1])),
            (Some("nope"), Err("target stage \"nope\" could not be found")),
        ];
        for (target, want) in cases {
            let got = target_index(&d, target).map(|t| needed(&d, t, &id)).map_err(|e| e.message().to_string());
            assert_eq!(got, want.map_err(str::to_string), "{target:?}");
        }
        // Meta ARG 1, stage 0: 2..3, stage 2: 4..5, stage 3: 6..7, stage 4: 8..10 (+1 label).
        assert_eq!(numbering(&d, &[0, 2, 3, 4], 1), (vec![(0, 2), (2, 4), (3, 6), (4, 8)], 11));
    }

    #[test]
    fn from_values_resolve_as_dockerd() {
        let d = df(vec![stage(Some("a"), "busybox", &[], 0), stage(Some("b"), "a", &[], 0), stage(None, "x", &[], 0)], 0);
        assert_eq!(resolve_base(&d, 1, "A"), Source::Stage(0));
        assert_eq!(resolve_base(&d, 0, "a"), Source::Image("a".into()), "a stage cannot be its own base");
        assert_eq!(resolve_from(&d, 2, "0").unwrap(), Source::Stage(0));
        assert_eq!(resolve_from(&d, 2, "b").unwrap(), Source::Stage(1));
        assert_eq!(resolve_from(&d, 2, "busybox:1").unwrap(), Source::Image("busybox:1".into()));
        assert!(resolve_from(&d, 1, "1").is_err());
        assert!(resolve_from(&d, 1, "5").is_err());
        assert!(resolve_from(&d, 0, "b").is_err());
        assert!(target_index(&df(vec![], 0), None).is_err());
    }
}
