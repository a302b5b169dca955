//! Builds the model from the descriptors: the services and their bindings, the messages and
//! enums of the generated files, the route table, and every diagnostic of the rules.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{DescriptorPool, Kind, MessageDescriptor, MethodDescriptor};

use super::binding::binding;
use super::docs::docs;
use super::json::{enum_model, message_model};
use super::mask::mask_walkers;
use super::routes::{route_table, websocket_routes};
use super::rust_types::message_type;
use super::{Api, Enum, GrpcMethod, Message, ModelOptions, Service, Streaming};
use crate::error::{Diagnostic, Error};
use crate::ident;
use crate::load::Loaded;
use crate::rules::{self, HttpRule};

/// Builds the model for the services in `targets`.
pub fn build(loaded: &Loaded, options: &ModelOptions) -> Result<Api, Error> {
    let (pool, targets) = (&loaded.pool, &loaded.targets);
    let mut diagnostics = Vec::new();
    let mut notes = Vec::new();
    let mut services = Vec::new();
    let mut used_idents = BTreeSet::new();
    let mut external: BTreeMap<&str, &crate::service_config::ExternalRule> = options
        .http_rules
        .iter()
        .map(|r| (r.selector.as_str(), r))
        .collect();
    let mut served_methods = Vec::new();

    for file_name in targets {
        let Some(file) = pool.get_file_by_name(file_name) else {
            continue;
        };
        for service in file.services() {
            let mut bindings = Vec::new();
            let mut grpc_methods = Vec::new();
            for method in service.methods() {
                let source = loaded.sources.get(file.name()).map(String::as_str);
                served_methods.push(method.full_name().to_string());
                let yaml_rule = external.remove(method.full_name());
                if options.excludes(method.full_name()) {
                    notes.push(format!(
                        "{} is excluded (--exclude-method); it is not served",
                        method.full_name()
                    ));
                    continue;
                }
                grpc_methods.push(grpc_method(&method));
                let rule = match (rules::http_rule(&method, source), yaml_rule) {
                    (Some(annotation), Some(yaml)) => {
                        diagnostics.push(crate::service_config::conflict(yaml, &annotation));
                        continue;
                    }
                    (None, Some(yaml)) => yaml.rule.clone(),
                    (Some(rule), None) => rule,
                    (None, None) if options.route_unannotated => HttpRule {
                        method: "POST".into(),
                        path: format!("/{}/{}", service.full_name(), method.name()),
                        body: "*".into(),
                        response_body: String::new(),
                        additional_bindings: Vec::new(),
                        location: crate::load::location(&file, method.path()),
                        path_location: None,
                    },
                    (None, None) => {
                        notes.push(format!(
                            "{} has no google.api.http rule; it is served to gRPC, gRPC-Web and Connect clients only (route it as REST with POST /{}/{} by --route-unannotated)",
                            method.full_name(),
                            service.full_name(),
                            method.name()
                        ));
                        continue;
                    }
                };
                let base = format!(
                    "{}_{}",
                    ident::to_snake(service.name()).trim_start_matches("r#"),
                    ident::to_snake(method.name()).trim_start_matches("r#")
                );
                let mut all = vec![(rule.clone(), false)];
                for extra in &rule.additional_bindings {
                    all.push((extra.clone(), true));
                }
                let mut method_bindings = Vec::new();
                let mut method_errors = Vec::new();
                for (i, (r, additional)) in all.iter().enumerate() {
                    if *additional && !r.additional_bindings.is_empty() {
                        method_errors.push(
                            Diagnostic::new("additional_bindings may not nest additional_bindings")
                                .at(r.location.clone())
                                .rpc(method.full_name())
                                .help("move the inner bindings up into the rule's own additional_bindings list"),
                        );
                        continue;
                    }
                    let mut ident = if i == 0 {
                        base.clone()
                    } else {
                        format!("{base}_{}", i + 1)
                    };
                    while !used_idents.insert(ident.clone()) {
                        ident.push('_');
                    }
                    match binding(&method, r, ident) {
                        Ok(b) => method_bindings.push(b),
                        Err(d) => method_errors.push(d),
                    }
                }
                match method_errors.first() {
                    None => bindings.append(&mut method_bindings),
                    Some(first) if options.skip_invalid => notes.push(skipped(first)),
                    Some(_) => diagnostics.append(&mut method_errors),
                }
            }
            services.push(Service {
                full_name: service.full_name().to_string(),
                bindings,
                grpc_methods,
                docs: docs(
                    &file,
                    service.path(),
                    service
                        .service_descriptor_proto()
                        .options
                        .as_ref()
                        .is_some_and(|o| o.deprecated()),
                ),
            });
        }
    }

    let unmatched: Vec<_> = external.into_values().collect();
    diagnostics.extend(crate::service_config::unmatched(
        &unmatched,
        pool,
        &served_methods,
    ));
    let methods = loop {
        match route_table(&services) {
            Ok(m) => break m,
            // Two bindings that match the same requests: the method of the later one is left
            // out, and the table is made again without it.
            Err(mut conflicts) => {
                let mut removed = false;
                for d in conflicts.iter().filter(|_| options.skip_invalid) {
                    let Some(rpc) = &d.rpc else { continue };
                    let mut skipped_now = false;
                    for service in &mut services {
                        let before = service.bindings.len();
                        service.bindings.retain(|b| &b.rpc != rpc);
                        skipped_now |= service.bindings.len() != before;
                    }
                    if skipped_now {
                        notes.push(skipped(d));
                        removed = true;
                    }
                }
                if !removed {
                    diagnostics.append(&mut conflicts);
                    break Vec::new();
                }
            }
        }
    };
    if diagnostics.is_empty() && services.iter().all(|s| s.bindings.is_empty()) {
        let why = if notes.iter().any(|n| n.contains(" is skipped: ")) {
            "every RPC with a google.api.http rule was skipped as invalid"
        } else {
            "no RPC has a google.api.http rule"
        };
        diagnostics.push(
            Diagnostic::new(format!("nothing to serve in {}: {why}", targets.join(", ")))
                .help("annotate methods with `option (google.api.http) = { get: \"/v1/…\" };`, or pass --route-unannotated"),
        );
    }
    let websocket = websocket_routes(&services);
    if !diagnostics.is_empty() {
        diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        return Err(Error::Invalid(diagnostics));
    }

    let files = generated_files(pool, targets);
    let mut messages = Vec::new();
    let mut enums = Vec::new();
    for file in pool.files() {
        if !files.iter().any(|f| f == file.name()) {
            continue;
        }
        for message in file.messages() {
            collect_types(&message, &mut messages, &mut enums);
        }
        for e in file.enums() {
            enums.push(enum_model(&e));
        }
    }
    messages.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    enums.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    let walkers = mask_walkers(pool, &services);
    for m in &mut messages {
        m.mask_paths = walkers.contains(&m.full_name);
    }
    notes.sort();

    Ok(Api {
        files,
        messages,
        enums,
        services,
        methods,
        websocket,
        notes,
    })
}

/// The note for a method left out because of `d`, with `--skip-invalid-methods`.
fn skipped(d: &Diagnostic) -> String {
    let location = d
        .location
        .as_ref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    format!(
        "{} is skipped: its rules are invalid{location}: {}",
        d.rpc.as_deref().unwrap_or("a method"),
        d.message
    )
}

/// The files whose types the generated crate needs: the targets and every file they depend on
/// for message types, except the well-known types (prost-types has those).
fn generated_files(pool: &DescriptorPool, targets: &[String]) -> Vec<String> {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = targets.to_vec();
    stack.extend(crate::load::ERROR_TYPES.iter().map(|s| s.to_string()));
    while let Some(name) = stack.pop() {
        if crate::well_known::is_file(&name) || !needed.insert(name.clone()) {
            continue;
        }
        let Some(file) = pool.get_file_by_name(&name) else {
            continue;
        };
        let mut deps = BTreeSet::new();
        let mut visit = |m: &MessageDescriptor| {
            for f in m.fields() {
                if let Kind::Message(t) = f.kind() {
                    deps.insert(t.parent_file().name().to_string());
                }
                if let Kind::Enum(t) = f.kind() {
                    deps.insert(t.parent_file().name().to_string());
                }
            }
        };
        for m in file.messages() {
            for_each_message(&m, &mut visit);
        }
        for s in file.services() {
            for m in s.methods() {
                deps.insert(m.input().parent_file().name().to_string());
                deps.insert(m.output().parent_file().name().to_string());
            }
        }
        stack.extend(deps);
    }
    // Dependency order, as the pool holds them: prost resolves across packages either way, but a
    // stable order keeps the output deterministic.
    pool.files()
        .map(|f| f.name().to_string())
        .filter(|n| needed.contains(n))
        .collect()
}

fn for_each_message(m: &MessageDescriptor, f: &mut impl FnMut(&MessageDescriptor)) {
    f(m);
    for child in m.child_messages() {
        for_each_message(&child, f);
    }
}

fn collect_types(m: &MessageDescriptor, messages: &mut Vec<Message>, enums: &mut Vec<Enum>) {
    if m.is_map_entry() {
        return;
    }
    messages.push(message_model(m));
    for child in m.child_messages() {
        collect_types(&child, messages, enums);
    }
    for e in m.child_enums() {
        enums.push(enum_model(&e));
    }
}

/// `method` as the RPC protocols call it.
fn grpc_method(method: &MethodDescriptor) -> GrpcMethod {
    let streaming = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => Streaming::Unary,
        (false, true) => Streaming::Server,
        (true, false) => Streaming::Client,
        (true, true) => Streaming::Bidi,
    };
    let no_side_effects = method
        .method_descriptor_proto()
        .options
        .as_ref()
        .is_some_and(|o| {
            o.idempotency_level() == prost_types::method_options::IdempotencyLevel::NoSideEffects
        });
    GrpcMethod {
        path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        input_type: message_type(&method.input()),
        output_type: message_type(&method.output()),
        streaming,
        no_side_effects,
    }
}
