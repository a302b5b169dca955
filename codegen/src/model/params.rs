//! The request fields a binding sets from the URL: the field each path variable binds, which
//! fields the query string may set (map parameters included), and the setters that store text.

use std::collections::BTreeSet;

use prost_reflect::{Kind, MessageDescriptor};

use super::json::{field_model, real_oneof, value_model};
use super::rust_types::wrapper_kind;
use super::{Api, Assign, Binding, Field, Parent, ParentMember, QueryParam, Setter, Shape};
use crate::ident;

/// Resolves a path variable's field path to a setter, or says why it cannot be bound, with a
/// help of its own where the general one (which fields can be bound) is not the fix.
pub(super) fn resolve_path_field(
    input: &MessageDescriptor,
    path: &[String],
) -> Result<Setter, (String, Option<String>)> {
    if wrapper_kind(input).is_some() {
        return Err((
            format!(
                "the request is a {}, a plain value with no fields to bind",
                input.full_name()
            ),
            Some("take the request from the body with `body: \"*\"` and no path variables".into()),
        ));
    }
    let mut message = input.clone();
    let mut parents = Vec::new();
    for (i, name) in path.iter().enumerate() {
        let Some(field) = message.get_field_by_name(name) else {
            let fields: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
            let help = match crate::suggest::closest(name, fields.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None if fields.is_empty() => format!("{} has no fields", message.full_name()),
                None => format!(
                    "name a field of {}: {}",
                    message.full_name(),
                    fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err((
                format!("{} has no field `{name}`", message.full_name()),
                Some(help),
            ));
        };
        let last = i + 1 == path.len();
        if !last {
            if field.is_list() || field.is_map() {
                return Err((
                    format!("`{name}` is a repeated or map field and cannot be descended into"),
                    None,
                ));
            }
            match field.kind() {
                Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => {
                    return Err((
                        format!(
                            "`{name}` is a {} (a well-known type with its own JSON form) and cannot be descended into",
                            m.full_name()
                        ),
                        None,
                    ));
                }
                Kind::Message(m) => {
                    parents.push(match real_oneof(&field) {
                        Some(oneof) => {
                            let member = field_model(&field).oneof;
                            Parent {
                                field: ident::to_snake(oneof.name()),
                                member: member.map(|o| ParentMember {
                                    variant: format!("{}::{}", o.enum_type, o.variant),
                                    only: oneof.fields().len() == 1,
                                }),
                            }
                        }
                        None => Parent::field(ident::to_snake(name)),
                    });
                    message = m;
                }
                _ => {
                    return Err((
                        format!(
                            "`{name}` is not a message field and has no field `{}`",
                            path[i + 1]
                        ),
                        None,
                    ));
                }
            }
            continue;
        }
        if field.is_list() || field.is_map() {
            return Err((format!("`{name}` is a repeated or map field"), None));
        }
        let model = field_model(&field);
        let Some(parse) = model.value.parse.clone() else {
            return Err((format!("`{name}` is a message field"), None));
        };
        let assign = assign_for(&model);
        return Ok(Setter {
            parents,
            field: model
                .oneof
                .as_ref()
                .map_or(model.ident.clone(), |o| o.ident.clone()),
            parse: scalar_fn(&parse),
            assign,
        });
    }
    Err(("the field path is empty".into(), None))
}

/// Collects the query parameters of `message` below `prefix`, skipping bound fields and
/// stopping at recursion.
#[allow(clippy::too_many_arguments)]
pub(super) fn query_fields(
    message: &MessageDescriptor,
    proto_prefix: &mut Vec<String>,
    parents: &mut Vec<(String, String)>,
    bound: &BTreeSet<Vec<String>>,
    out: &mut Vec<QueryParam>,
    maps: &mut Vec<QueryParam>,
    visiting: &mut Vec<String>,
) {
    // A wrapper request (`google.protobuf.StringValue`) is a plain value in prost, with no
    // fields to set from the query string.
    if proto_prefix.is_empty() && wrapper_kind(message).is_some() {
        return;
    }
    for field in message.fields() {
        let mut path = proto_prefix.clone();
        path.push(field.name().to_string());
        if bound.contains(&path) {
            continue;
        }
        let model = field_model(&field);
        let proto_names: Vec<String> = path.clone();
        let mut json_names: Vec<String> = parents.iter().map(|(_, j)| j.clone()).collect();
        json_names.push(field.json_name().to_string());
        let mut names = vec![proto_names.join("."), json_names.join(".")];
        names.dedup();
        let parent_idents: Vec<Parent> = parents
            .iter()
            .map(|(i, _)| Parent::field(i.clone()))
            .collect();

        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            let key = value_model(&entry.map_entry_key_field());
            let value = value_model(&entry.map_entry_value_field());
            // Maps whose keys and values have a text form: `labels[key]=value`.
            if let (Some(kp), Some(vp)) = (key.parse, value.parse) {
                maps.push(QueryParam {
                    names,
                    setter: Setter {
                        parents: parent_idents,
                        field: model.ident.clone(),
                        parse: scalar_fn(&vp),
                        assign: Assign::Insert(scalar_fn(&kp)),
                    },
                    repeated: true,
                    index: 0,
                    field: Box::new(model.clone()),
                });
            }
            continue;
        }
        if let Some(parse) = model.value.parse.clone() {
            let index = out.len();
            out.push(QueryParam {
                names,
                setter: Setter {
                    parents: parent_idents,
                    field: model
                        .oneof
                        .as_ref()
                        .map_or(model.ident.clone(), |o| o.ident.clone()),
                    parse: scalar_fn(&parse),
                    assign: assign_for(&model),
                },
                repeated: field.is_list(),
                index,
                field: Box::new(model.clone()),
            });
            continue;
        }
        // A plain message field: descend, unless it is repeated, in a oneof, recursive, or a
        // well-known type without a text form (Struct, Value, ListValue, Any, Empty: their
        // fields are not the API's).
        if let Kind::Message(m) = field.kind() {
            if field.is_list()
                || real_oneof(&field).is_some()
                || m.full_name().starts_with("google.protobuf.")
                || visiting.iter().any(|v| v == m.full_name())
            {
                continue;
            }
            visiting.push(m.full_name().to_string());
            proto_prefix.push(field.name().to_string());
            parents.push((ident::to_snake(field.name()), field.json_name().to_string()));
            query_fields(&m, proto_prefix, parents, bound, out, maps, visiting);
            parents.pop();
            proto_prefix.pop();
            visiting.pop();
        }
    }
}

fn scalar_fn(parse: &str) -> String {
    format!("runtime::scalar::{parse}")
}

fn assign_for(model: &Field) -> Assign {
    if let Some(o) = &model.oneof {
        return Assign::Oneof {
            enum_type: o.enum_type.clone(),
            variant: o.variant.clone(),
            oneof: o.name.clone(),
        };
    }
    match model.shape {
        Shape::Singular => Assign::Set,
        Shape::Optional | Shape::Wrapper | Shape::Message => Assign::SetSome,
        Shape::Repeated => Assign::Push,
        Shape::Map => Assign::Set,
    }
}

impl Parent {
    fn field(ident: String) -> Self {
        Parent {
            field: ident,
            member: None,
        }
    }
}

impl QueryParam {
    /// The accepted names as a Rust match pattern of string literals (`"a_b" | "aB"`).
    pub fn name_pattern(&self) -> String {
        self.names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl Binding {
    /// Whether the request message has fields left for the query string; when not, every
    /// parameter is unknown and the binding has no query function.
    pub fn takes_query(&self) -> bool {
        !self.query.is_empty() || !self.query_maps.is_empty()
    }

    /// Whether a query parameter may appear once only (a singular field): the query function
    /// then keeps track of the names it has seen.
    pub fn query_once(&self) -> bool {
        self.query.iter().any(|q| !q.repeated)
    }

    /// `"a" | "b"`: a pattern of [`request_fields`](Self::request_fields) for a `match`.
    pub fn request_field_pattern(&self) -> String {
        self.request_fields
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl Api {
    /// Whether a plain `alt` query parameter is Google's system parameter (as `$alt` always
    /// is): unless some binding has a query parameter of that name.
    pub fn alt_is_system_parameter(&self) -> bool {
        !self
            .services
            .iter()
            .flat_map(|s| &s.bindings)
            .flat_map(|b| b.query.iter().chain(&b.query_maps))
            .any(|q| q.names.iter().any(|n| n == "alt"))
    }
}
