use super::*;

#[test]
fn tags_are_the_version_and_a_hash_of_every_input() {
    let tag = content_tag("0.1.0", &[b"FROM x", b"binary"]);
    let (version, digits) = tag.split_once('-').unwrap();
    assert_eq!(version, "0.1.0");
    assert_eq!(digits.len(), 12);
    assert!(digits.chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
    // (why, inputs, same tag as the reference?)
    let cases: &[(&str, &[&[u8]], bool)] = &[
        ("same inputs", &[b"FROM x", b"binary"], true),
        ("binary changed", &[b"FROM x", b"binary2"], false),
        ("Dockerfile changed", &[b"FROM y", b"binary"], false),
        ("bytes moved between inputs", &[b"FROM xb", b"inary"], false),
        ("another input", &[b"FROM x", b"binary", b""], false),
    ];
    for (why, inputs, same) in cases {
        assert_eq!(content_tag("0.1.0", inputs) == tag, *same, "{why}");
    }
    assert_eq!(content_tag("", &[b"FROM x", b"binary"]), digits);
    assert_eq!(
        content_tag("0.2.0", &[b"FROM x", b"binary"]),
        format!("0.2.0-{digits}")
    );
}

#[test]
fn the_package_version_is_read_from_the_package_table_only() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
            Some("0.1.0"),
        ),
        (
            "[workspace.package]\nversion = \"9.9.9\"\n\n[package]\nversion=\"1.2.3-rc.1\"\n",
            Some("1.2.3-rc.1"),
        ),
        ("[package]\nversion.workspace = true\n", None),
        (
            "[package]\nname = \"x\"\n[dependencies]\nversion = \"2\"\n",
            None,
        ),
        ("[dependencies]\nversion = \"2\"\n", None),
    ];
    for (manifest, want) in cases {
        assert_eq!(package_version(manifest), *want, "{manifest:?}");
    }
    let ours = std::fs::read_to_string(crate::root().join("Cargo.toml")).unwrap();
    assert!(
        package_version(&ours).is_some(),
        "the operator's Cargo.toml"
    );
}

#[test]
fn extra_tags_must_be_docker_tags() {
    let long = "a".repeat(129);
    let cases: &[(&str, bool)] = &[
        ("upgrade", true),
        ("0.1.0-rc.1", true),
        ("_x", true),
        ("", false),
        ("-x", false),
        (".x", false),
        ("a:b", false),
        ("a/b", false),
        (&long, false),
    ];
    for (tag, valid) in cases {
        assert_eq!(parse_tag(tag).is_ok(), *valid, "{tag:?}");
    }
}

#[test]
fn the_host_architecture_picks_the_target_and_targetarch() {
    let amd64 = Arch::of("x86_64").unwrap();
    assert_eq!(
        (amd64.triple, amd64.docker),
        ("x86_64-unknown-linux-gnu", "amd64")
    );
    let arm64 = Arch::of("aarch64").unwrap();
    assert_eq!(
        (arm64.triple, arm64.docker),
        ("aarch64-unknown-linux-gnu", "arm64")
    );
    assert!(Arch::of("riscv64").is_err());
}

#[test]
fn an_archive_is_reused_only_for_the_same_image_under_the_same_names() {
    let refs = [
        "localhost/op:1".to_string(),
        "localhost/op:upgrade".to_string(),
    ];
    let stamp = json!({"id": "abc", "refs": refs, "size": 123}).to_string();
    // (why, stamp, image id, names, the size reused)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [String], Option<u64>);
    let cases: &[Case] = &[
        ("unchanged", &stamp, "abc", &refs, Some(123)),
        ("another image", &stamp, "def", &refs, None),
        ("a name less", &stamp, "abc", &refs[..1], None),
        (
            "names reordered",
            &stamp,
            "abc",
            &[refs[1].clone(), refs[0].clone()],
            None,
        ),
        ("no stamp", "", "abc", &refs, None),
        ("no size", r#"{"id": "abc", "refs": []}"#, "abc", &[], None),
    ];
    for (why, stamp, id, refs, want) in cases {
        assert_eq!(archived_size(stamp, id, refs), *want, "{why}");
    }
}

#[test]
fn the_operator_image_must_stay_below_the_limit() {
    let image = |size| Image {
        refs: vec![format!("{OPERATOR}:0.1.0-0123456789ab")],
        archive: PathBuf::from("x.tar"),
        size,
    };
    let cases = [
        (0, true),
        (OPERATOR_SIZE_LIMIT - 1, true),
        (OPERATOR_SIZE_LIMIT, false),
        (OPERATOR_SIZE_LIMIT + 1, false),
    ];
    for (size, ok) in cases {
        let got = check_size(&image(size), OPERATOR_SIZE_LIMIT);
        assert_eq!(got.is_ok(), ok, "{size}: {got:?}");
    }
    let err = check_size(&image(21_500_000), OPERATOR_SIZE_LIMIT).unwrap_err();
    assert!(err.to_string().contains("21.5 MB uncompressed"), "{err}");
}
