//! The SOPS reader against files encrypted by the real sops tool and by
//! Flux's own tests (`../shared/fixtures/sops/`, see its README for the
//! sources and the expected plaintext): decrypting them is the test.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flotilla_render::sops::{self, DataKey, Document, Format, KeyKind, Keyring, SopsError};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const MARK: &str = "<not compared>";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/sops")
}

fn kc(rel: &str) -> PathBuf {
    fixtures()
        .join("kustomize-controller/testdata-sops")
        .join(rel)
}

fn sops_repo(rel: &str) -> PathBuf {
    fixtures().join("getsops-sops").join(rel)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(std::str::from_utf8(&read(path)).unwrap()).unwrap()
}

fn age_keys() -> Keyring {
    Keyring::from_age_file(&kc("keys/age.txt")).unwrap()
}

/// The resource path of kustomize-controller (`DecryptResource`).
fn decrypt_object(path: &Path, keys: &Keyring) -> (Value, bool) {
    let d = sops::decrypt_value(&yaml(path), keys).unwrap();
    (d.value.as_value().clone(), d.mac_ok)
}

#[test]
fn age_encrypted_secrets_decrypt_to_the_readme_plaintext() {
    let keys = age_keys();
    for (file, field, expected) in [
        ("algorithms/age.yaml", "key", "value"),
        ("patches/merge1.yaml", "key", "merge1"),
        ("patches/merge2.yaml", "merge2", "merge2"),
    ] {
        let (plain, mac_ok) = decrypt_object(&kc(file), &keys);
        assert_eq!(plain["stringData"][field], json!(expected), "{file}");
        assert!(mac_ok, "{file}: mac");
        assert!(plain.get("sops").is_none(), "{file}: sops block left");
        assert_eq!(plain["kind"], "Secret");
    }
    let global = Keyring::from_age_file(&kc("keys/age-global.txt")).unwrap();
    let (plain, mac_ok) = decrypt_object(&kc("global/secret.yaml"), &global);
    assert_eq!(plain["stringData"]["key"], "global-value");
    assert_eq!(plain["metadata"]["namespace"], "default");
    assert!(mac_ok);
}

#[test]
fn patches_decrypt_in_place_as_yaml_with_the_same_content() {
    let out = sops::decrypt_bytes(
        &read(&kc("patches/merge1.yaml")),
        Format::Yaml,
        Format::Yaml,
        &age_keys(),
    )
    .unwrap();
    assert!(out.mac_ok);
    assert!(!out.value.byte_exact());
    let text = std::str::from_utf8(out.value.as_bytes()).unwrap();
    let back: Value = serde_saphyr::from_str(text).unwrap();
    assert_eq!(back["stringData"]["key"], "merge1");
    assert!(back.get("sops").is_none());
}

#[test]
fn dotenv_generator_sources_decrypt_byte_exact() {
    for file in ["envs/env.env", "component/env.env", "remote/env.env"] {
        let bytes = read(&kc(file));
        assert!(sops::is_encrypted_bytes(&bytes));
        assert_eq!(Format::for_env_path(file), Format::Dotenv);
        let out = sops::decrypt_bytes(&bytes, Format::Dotenv, Format::Dotenv, &age_keys()).unwrap();
        assert_eq!(out.value.as_bytes(), b"key=value\n", "{file}");
        assert!(out.value.byte_exact());
        assert!(out.mac_ok, "{file}: mac");
    }
}

#[test]
fn binary_file_source_decrypts_to_raw_bytes() {
    // secretGenerator `files: [key=file.txt]`: the format comes from the key.
    let format = Format::for_path("key");
    assert_eq!(format, Format::Binary);
    let out =
        sops::decrypt_bytes(&read(&kc("files/file.txt")), format, format, &age_keys()).unwrap();
    assert_eq!(out.value.as_bytes(), b"value");
    assert!(out.mac_ok);
}

#[test]
fn secret_data_value_that_is_a_sops_document_decrypts() {
    let secret = yaml(&kc("inside/secret.yaml"));
    assert!(!sops::is_encrypted_object(&secret));
    let value = STANDARD
        .decode(secret["data"]["key"].as_str().unwrap())
        .unwrap();
    let input = Format::detect(&value).expect("a sops marker");
    assert_eq!(input, Format::Json);
    let out = sops::decrypt_bytes(&value, input, Format::for_path("key"), &age_keys()).unwrap();
    assert_eq!(out.value.as_bytes(), b"value");
    assert!(out.mac_ok);
}

#[test]
fn post_quantum_age_is_an_explicit_unsupported_key_type() {
    let keys = Keyring::from_age_file(&kc("keys/age-pq.txt")).unwrap();
    assert_eq!(keys.unusable_post_quantum(), 1);
    assert!(keys.is_empty());
    let doc = yaml(&kc("algorithms/age-pq.yaml"));
    let err = sops::decrypt_value(&doc, &keys).unwrap_err();
    assert!(
        matches!(err, SopsError::UnsupportedKeyType { .. }),
        "{err:?}"
    );
    assert!(err.is_missing_key());
    assert!(err.to_string().contains("age post-quantum"), "{err}");
    // Keys are still compared.
    let stripped = sops::strip(&doc, MARK).unwrap();
    assert_eq!(stripped["stringData"], json!({"key": MARK}));
}

/// The AES-GCM and MAC layer on the sops repository's PGP files, with the
/// data keys the fixture README lists (PGP itself is not decrypted).
fn with_data_key(path: &Path, format: Format, hex: &str) -> (Value, bool) {
    let doc = Document::parse(&read(path), format).unwrap();
    let d = doc.decrypt_with(&DataKey::from_hex(hex).unwrap()).unwrap();
    (d.value.into_value().into_value(), d.mac_ok)
}

#[test]
fn pgp_documents_decrypt_with_their_data_keys() {
    let res = |f: &str| sops_repo(&format!("functional-tests/res/{f}"));
    let (v, mac) = with_data_key(
        &res("comments.enc.yaml"),
        Format::Yaml,
        "61bec946f5783fd4cea3d1b1ce407fce2b6e81fc301cc539c422015e27f6d1be",
    );
    assert_eq!(v, json!({"lorem": "ipsum", "dolor": "sit"}));
    assert!(mac);
    let (v, mac) = with_data_key(
        &res("comments_unencrypted_comments.yaml"),
        Format::Yaml,
        "70f645aec88418dff72ac2a7a5503209cf00beda80706e6e157fd94ae53885a0",
    );
    assert_eq!(v, json!({"lorem": "ipsum", "dolor": "sit"}));
    assert!(mac);
    let (v, mac) = with_data_key(
        &res("multiple_keys.yaml"),
        Format::Yaml,
        "1e1db61c6b93c001caa9ce34a9d68448eee8a3c69336697eab36bb92327ce786",
    );
    assert_eq!(v, json!({"message": "hello"}));
    assert!(mac);
    let (v, mac) = with_data_key(
        &kc("algorithms/pgp.yaml"),
        Format::Yaml,
        "472b5e68ce8212f116283588b74be542f0e38353e16126654737e6858b961e5a",
    );
    assert_eq!(v["stringData"], json!({"key": "value"}));
    assert!(mac);
}

#[test]
fn format_files_are_written_as_sops_writes_them() {
    let res = |f: &str| sops_repo(&format!("functional-tests/res/{f}"));
    // sops functional test `decrypt_format`: stdout is exactly this.
    let doc = Document::parse(&read(&res("format.enc.json")), Format::Json).unwrap();
    let key = DataKey::from_hex("9f6aeda6383502c38f7dae6fbbb8cb6890582adb0335effa8952fe590d7a9596")
        .unwrap();
    let plain = doc.decrypt_with(&key).unwrap();
    assert!(plain.mac_ok);
    let out = plain.value.emit(Format::Json).unwrap();
    assert_eq!(out.as_bytes(), b"{\n\t\"foo\": \"bar\"\n}\n");
    assert!(out.byte_exact());
    let (v, mac) = with_data_key(
        &res("format.enc.yaml"),
        Format::Yaml,
        "af5e68dd342b72c6a0475f81a50da4fde898f4b7742c92cbcf1668211411f4e4",
    );
    assert_eq!(v, json!({"foo": "bar"}));
    assert!(mac);
}

#[test]
fn example_yaml_restores_types_and_keeps_unencrypted_keys() {
    let (v, mac) = with_data_key(
        &sops_repo("example.yaml"),
        Format::Yaml,
        "8c68886c50b5b72965a3cb99c5172e1d74a8aca27b39ee880b535d6907e59f68",
    );
    assert!(mac, "the MAC covers _unencrypted values too");
    assert_eq!(v["myapp1"], "t00m4nys3cr3tzupdated");
    assert_eq!(
        v["app2"]["db"],
        json!({"user": "eve", "password": "c4r1b0u"})
    );
    let key = v["app2"]["key"].as_str().unwrap();
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----\nMIIBPAIBAAJBAPTMNIyHuZtpLYc7VsHQtwOkWYobkUblmHWRmbXzlAX6K8tMf3Wf\n"));
    assert!(key.ends_with("-----END RSA PRIVATE KEY-----\n"));
    assert_eq!(key.len(), 497);
    assert_eq!(v["number"], json!(1234568000.0));
    assert_eq!(
        v["an_array"],
        json!([
            "secretuser1",
            "secretuser2",
            "somelongvalueAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "some other value"
        ])
    );
    assert_eq!(v["somebooleans"], json!([true, false]));
    assert_eq!(
        v["this"]["is"]["a"]["nested"]["value"],
        "with something secret in it"
    );
    assert_eq!(
        v["somelist_unencrypted"],
        json!([
            "all elements of this list",
            "remain in clear text",
            "because of the _unencrypted suffix in the key"
        ])
    );
    assert_eq!(
        v["nested_unencrypted"]["this"]["is"]["all"],
        "going to remain in clear text"
    );
}

#[test]
fn example_json_decrypts_to_the_readme_document() {
    let (v, mac) = with_data_key(
        &sops_repo("example.json"),
        Format::Json,
        "faf6a891866fac550ef548b4e5f6fbc98fccc6827cd943cc8d7539747f1d87bd",
    );
    assert!(mac);
    let expected: Value = serde_json::from_str(
        r#"{"firstName":"John","lastName":"Smith","age":25.4,"address":{"city":"New York","postalCode":"10021-3100","state":"NY","streetAddress":"21 2nd Street"},"phoneNumbers":[{"number":"212 555-1234","type":"home"},{"number":"646 555-4567","type":"office"}],"anEmptyValue":""}"#,
    )
    .unwrap();
    assert_eq!(v, expected);
}

#[test]
fn a_document_without_mac_is_not_sops_for_flux() {
    let path = sops_repo("functional-tests/res/no_mac.yaml");
    let bytes = read(&path);
    assert!(!sops::is_encrypted_object(&yaml(&path)));
    assert!(!sops::is_encrypted_bytes(&bytes));
    assert!(matches!(
        sops::strip(&yaml(&path), MARK),
        Err(SopsError::NotEncrypted)
    ));
    // Read anyway, it decrypts, and the missing MAC is reported.
    let (v, mac) = with_data_key(
        &path,
        Format::Yaml,
        "87f9ee7ab041cfd1946fb50e6166b29858fcb4224ae3816186a129248558461f",
    );
    assert_eq!(v["myapp1"], "t00m4nys3cr3tzupdated");
    assert!(!mac);
}

#[test]
fn without_a_key_strip_keeps_every_key_and_no_ciphertext() {
    let stripped = sops::strip(&yaml(&kc("algorithms/age.yaml")), MARK).unwrap();
    assert_eq!(
        stripped,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "age"}, "stringData": {"key": MARK}})
    );
    // Ciphertext where the rules say clear is replaced all the same.
    let odd = tampered(
        "algorithms/age.yaml",
        "name: age",
        "name: ENC[AES256_GCM,data:eA==]",
    );
    assert_eq!(sops::strip(&odd, MARK).unwrap()["metadata"]["name"], MARK);
    let example = Document::parse(&read(&sops_repo("example.yaml")), Format::Yaml).unwrap();
    let stripped = example.strip(MARK);
    let text = stripped.to_string();
    assert!(!text.contains("ENC["), "{text}");
    assert!(stripped.get("sops").is_none());
    assert_eq!(
        stripped["app2"]["db"],
        json!({"user": MARK, "password": MARK})
    );
    assert_eq!(stripped["an_array"].as_array().unwrap().len(), 4);
    assert_eq!(
        stripped["nested_unencrypted"]["this"]["is"]["all"],
        "going to remain in clear text"
    );
    let fps: Vec<(KeyKind, &str)> = example
        .metadata()
        .master_keys()
        .map(|k| (k.kind, k.id.as_str()))
        .collect();
    assert_eq!(
        fps,
        vec![
            (KeyKind::Pgp, "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
            (KeyKind::Pgp, "D7229043384BCC60326C6FB9D8720D957C3D3074"),
        ]
    );
    let env = Document::parse(&read(&kc("envs/env.env")), Format::Dotenv).unwrap();
    assert_eq!(env.strip(MARK), json!({"key": MARK}));
    assert_eq!(env.metadata().key_kinds(), vec![KeyKind::Age]);
}

#[test]
fn flux2_podinfo_files_give_keys_only() {
    let podinfo = fixtures().join("flux2/podinfo");
    let recipient = "age10la2ge0wtvx3qr7datqf7rs4yngxszdal927fs9rukamr8u2pshsvtz7ce";
    let basic = yaml(&podinfo.join("stringdata-secret.yaml"));
    assert!(sops::is_encrypted_object(&basic));
    let stripped = sops::strip(&basic, MARK).unwrap();
    assert_eq!(
        stripped["stringData"],
        json!({"username": MARK, "password": MARK})
    );
    assert_eq!(stripped["type"], "kubernetes.io/basic-auth");
    let docker = yaml(&podinfo.join("dockerconfigjson-sops-secret.yaml"));
    let stripped = sops::strip(&docker, MARK).unwrap();
    assert_eq!(stripped["data"], json!({".dockerconfigjson": MARK}));
    let token = Document::parse(&read(&podinfo.join("token.encrypted")), Format::Binary).unwrap();
    assert_eq!(token.strip(MARK), json!({"data": MARK}));
    for doc in [Document::from_object(&basic).unwrap(), token] {
        let keys: Vec<String> = doc
            .metadata()
            .master_keys()
            .map(|k| k.to_string())
            .collect();
        assert_eq!(keys, vec![format!("age {recipient}")]);
        // No published identity: a missing key, named.
        let err = doc.decrypt(&age_keys()).unwrap_err();
        assert!(err.is_missing_key());
        let text = err.to_string();
        assert!(text.contains(recipient), "{text}");
        assert!(
            text.contains("age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"),
            "{text}"
        );
    }
}

#[test]
fn pgp_only_documents_are_unsupported_key_types_named_by_fingerprint() {
    let doc = yaml(&kc("algorithms/pgp.yaml"));
    let err = sops::decrypt_value(&doc, &age_keys()).unwrap_err();
    assert!(
        matches!(err, SopsError::UnsupportedKeyType { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("pgp 35C1A64CD7FC0AB6EB66756B2445463C3234ECE1"),
        "{err}"
    );
}

#[test]
fn wrong_age_key_names_the_recipients() {
    let err = sops::decrypt_value(&yaml(&kc("global/secret.yaml")), &age_keys())
        .unwrap_err()
        .at("global/secret.yaml");
    let text = flotilla_core::findings::error_chain(&err);
    assert!(
        text.starts_with("global/secret.yaml: no key to decrypt"),
        "{text}"
    );
    assert!(text.contains("age age1henwn645drkd3fa34t27t2w2x0nsgw3w4h62gmg5x5xflyjpy38s5cncph"));
    assert!(err.is_missing_key());
}

fn tampered(file: &str, from: &str, to: &str) -> Value {
    let text = String::from_utf8(read(&kc(file))).unwrap();
    assert!(text.contains(from), "{from} not in {file}");
    serde_saphyr::from_str(&text.replacen(from, to, 1)).unwrap()
}

#[test]
fn tampered_ciphertext_is_an_error() {
    // algorithms/age.yaml: `data:mHeXsmQ=` is the value of stringData.key.
    let doc = tampered("algorithms/age.yaml", "data:mHeXsmQ=", "data:nHeXsmQ=");
    let err = sops::decrypt_value(&doc, &age_keys()).unwrap_err();
    assert!(
        matches!(&err, SopsError::Decrypt { path } if path == "stringData.key"),
        "{err:?}"
    );
    // A value moved to another key path fails too (the path is the AAD).
    let doc = tampered("algorithms/age.yaml", "  key: ENC", "  other: ENC");
    assert!(matches!(
        sops::decrypt_value(&doc, &age_keys()),
        Err(SopsError::Decrypt { .. })
    ));
}

#[test]
fn tampered_mac_or_clear_fields_decrypt_with_mac_not_ok() {
    let doc = tampered("algorithms/age.yaml", "data:vmrF+VgW", "data:vmrF+VgX");
    let d = sops::decrypt_value(&doc, &age_keys()).unwrap();
    assert_eq!(d.value.as_value()["stringData"]["key"], "value");
    assert!(!d.mac_ok);
    // What kustomize does to a Secret (namePrefix) changes a leaf the MAC
    // covers: Flux still decrypts, which is why it does not check the MAC.
    let doc = tampered("algorithms/age.yaml", "name: age", "name: sops-age");
    let d = sops::decrypt_value(&doc, &age_keys()).unwrap();
    assert_eq!(d.value.as_value()["metadata"]["name"], "sops-age");
    assert!(!d.mac_ok);
}

/// Fixture plaintext and ciphertext that no error or debug output may show.
const SECRETS: &[&str] = &[
    "merge1",
    "global-value",
    "t00m4nys3cr3tzupdated",
    "c4r1b0u",
    "secretuser1",
    "mHeXsmQ",
    "vmrF+VgW3o8z4h",
    "5d9WYyV8eyrOhF",
    "YWdlLWVuY3J5cHRpb24",
    "3PTvx6o",
    "QNbPAYY",
    "zlGNmhTYX5xol4ZZ",
    "AGE-SECRET-KEY",
    "RH87A5Z54ZGUR9S0",
    "CANARY",
];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.to_uppercase().contains(&secret.to_uppercase()),
            "{what} shows {secret}: {text}"
        );
    }
}

#[test]
fn canary_no_failure_shows_plaintext_or_ciphertext() {
    let keys = age_keys();
    let global = Keyring::from_age_file(&kc("keys/age-global.txt")).unwrap();
    let env = String::from_utf8(read(&kc("envs/env.env"))).unwrap();
    let errors: Vec<SopsError> = vec![
        // Wrong keys, unsupported keys.
        sops::decrypt_value(&yaml(&kc("global/secret.yaml")), &keys).unwrap_err(),
        sops::decrypt_value(&yaml(&kc("patches/merge1.yaml")), &global).unwrap_err(),
        sops::decrypt_value(&yaml(&kc("algorithms/pgp.yaml")), &keys).unwrap_err(),
        // Tampered and malformed values.
        sops::decrypt_value(&tampered("patches/merge1.yaml", "iv:", "iv:@@"), &keys).unwrap_err(),
        sops::decrypt_value(
            &tampered("global/secret.yaml", "type:str]", "type:zzz]"),
            &global,
        )
        .unwrap_err(),
        sops::decrypt_value(
            &tampered("global/secret.yaml", "type:str]", "type:int]"),
            &global,
        )
        .unwrap_err(),
        sops::decrypt_value(
            &tampered("global/secret.yaml", "key: ENC[", "key: CANARY-ENC["),
            &global,
        )
        .unwrap_err(),
        sops::decrypt_value(
            &tampered("algorithms/age.yaml", "data:mHeXsmQ=", "data:nHeXsmQ="),
            &keys,
        )
        .unwrap_err(),
        // A corrupted age stanza for a matching recipient.
        sops::decrypt_value(
            &tampered(
                "algorithms/age.yaml",
                "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgy",
                "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgz",
            ),
            &keys,
        )
        .unwrap_err(),
        // Unparsable documents and a bad key file.
        Document::parse(
            format!("{env}CANARY-NO-EQUALS\n").as_bytes(),
            Format::Dotenv,
        )
        .unwrap_err(),
        Document::parse(b"{\"data\": \"CANARY\", oops", Format::Json).unwrap_err(),
        Document::parse(b"stringData:\n  key: [CANARY\nsops: {", Format::Yaml).unwrap_err(),
        sops::decrypt_bytes(
            &read(&kc("envs/env.env")),
            Format::Dotenv,
            Format::Binary,
            &keys,
        )
        .unwrap_err(),
        Keyring::from_age_keys("AGE-SECRET-KEY-1RH87A5Z54ZGUR9S0CANARY\n", "SOPS_AGE_KEY")
            .unwrap_err(),
    ];
    assert!(errors.len() >= 14);
    for err in &errors {
        assert_clean("error display", &flotilla_core::findings::error_chain(err));
        assert_clean("error debug", &format!("{err:?}"));
    }
    // Successful results print as redacted too.
    let d = sops::decrypt_value(&yaml(&kc("patches/merge1.yaml")), &keys).unwrap();
    assert_clean("decrypted debug", &format!("{d:?}"));
    let b = sops::decrypt_bytes(
        &read(&kc("files/file.txt")),
        Format::Binary,
        Format::Binary,
        &keys,
    )
    .unwrap();
    assert_clean("plaintext debug", &format!("{b:?}"));
    assert_clean("keyring debug", &format!("{keys:?}"));
    let doc = Document::parse(&read(&kc("patches/merge1.yaml")), Format::Yaml).unwrap();
    assert_clean("document debug", &format!("{doc:?}"));
}

#[test]
fn dotenv_comments_decrypt_and_metadata_unflattens() {
    // comments.enc.yaml rewritten as the dotenv store writes it: the values
    // and comments keep their AAD (`lorem:`, `:` at top level), the metadata
    // is flattened into `sops_*` lines, so the MAC still matches.
    let doc = yaml(&sops_repo("functional-tests/res/comments.enc.yaml"));
    let text =
        String::from_utf8(read(&sops_repo("functional-tests/res/comments.enc.yaml"))).unwrap();
    let comments: Vec<&str> = text.lines().filter(|l| l.starts_with("#ENC[")).collect();
    assert_eq!(comments.len(), 2);
    let meta = &doc["sops"];
    let dotenv = format!(
        "{}\nlorem={}\n{}\ndolor={}\nsops_lastmodified={}\nsops_mac={}\nsops_pgp__list_0__map_fp={}\nsops_pgp__list_0__map_enc={}\nsops_pgp__list_0__map_created_at={}\nsops_unencrypted_suffix=_unencrypted\nsops_version=3.6.1\n",
        comments[0],
        doc["lorem"].as_str().unwrap(),
        comments[1],
        doc["dolor"].as_str().unwrap(),
        meta["lastmodified"].as_str().unwrap(),
        meta["mac"].as_str().unwrap(),
        meta["pgp"][0]["fp"].as_str().unwrap(),
        meta["pgp"][0]["enc"].as_str().unwrap().replace('\n', "\\n"),
        meta["pgp"][0]["created_at"].as_str().unwrap(),
    );
    assert!(sops::is_encrypted_bytes(dotenv.as_bytes()));
    let parsed = Document::parse(dotenv.as_bytes(), Format::Dotenv).unwrap();
    assert_eq!(
        parsed.metadata().key_kinds(),
        vec![KeyKind::Pgp],
        "pgp key read from flattened metadata"
    );
    let key = DataKey::from_hex("61bec946f5783fd4cea3d1b1ce407fce2b6e81fc301cc539c422015e27f6d1be")
        .unwrap();
    let plain = parsed.decrypt_with(&key).unwrap();
    assert!(plain.mac_ok);
    assert_eq!(
        plain.value.emit(Format::Dotenv).unwrap().as_bytes(),
        b"# first comment in file\nlorem=ipsum\n# this-is-a-comment\ndolor=sit\n"
    );
    assert_eq!(
        plain.value.emit(Format::Json).unwrap().as_bytes(),
        b"{\n\t\"lorem\": \"ipsum\",\n\t\"dolor\": \"sit\"\n}\n"
    );
}
