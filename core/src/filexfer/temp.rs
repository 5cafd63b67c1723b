//! The hidden names under which files are written until they are
//! verified: `.NAME.commlab-OWNER-TAG.part`, in the same folder as the
//! file they will replace (so the final rename is atomic). The pattern is
//! owned here so that the server never lists or serves such a file, and a
//! server can tell its own leftovers from anything else in its folder.

const PREFIX: char = '.';
const MARK: &str = ".commlab-";
const SUFFIX: &str = ".part";

/// The temporary name for `name`, written by process `owner`, told apart
/// from others by `tag` (a connection number, `download`, `raw`: ASCII
/// letters and digits).
pub fn temp_name(name: &str, owner: u32, tag: &str) -> String {
    format!("{PREFIX}{name}{MARK}{owner}-{tag}{SUFFIX}")
}

/// Whether `entry` is a temporary name [`temp_name`] makes (nothing else
/// matches: a file the user named `.x.part` is not one).
pub fn is_temp_name(entry: &str) -> bool {
    let Some(inner) = entry
        .strip_prefix(PREFIX)
        .and_then(|e| e.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let Some((name, owner_tag)) = inner.rsplit_once(MARK) else {
        return false;
    };
    let Some((owner, tag)) = owner_tag.split_once('-') else {
        return false;
    };
    !name.is_empty()
        && !owner.is_empty()
        && owner.bytes().all(|b| b.is_ascii_digit())
        && !tag.is_empty()
        && tag.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::{is_temp_name, temp_name};
    use proptest::prelude::*;

    #[test]
    fn only_our_own_pattern_is_a_temporary_name() {
        assert_eq!(
            temp_name("FT_teste.xlsx", 42, "7"),
            ".FT_teste.xlsx.commlab-42-7.part"
        );
        assert!(is_temp_name(".FT_teste.xlsx.commlab-42-download.part"));
        for not in [
            ".x.part",
            "x.commlab-1-2.part",
            ".x.commlab-a-2.part",
            ".x.commlab-1-.part",
            ".commlab-1-2.part",
            ".x.commlab-1-2.part.bak",
            ".x.commlab-1-a/b.part",
        ] {
            assert!(!is_temp_name(not), "{not}");
        }
    }

    proptest! {
        #[test]
        fn every_temporary_name_is_recognised(name in "[^/]{1,40}", owner in any::<u32>(), tag in "[a-z0-9]{1,8}") {
            prop_assert!(is_temp_name(&temp_name(&name, owner, &tag)));
        }
    }
}
