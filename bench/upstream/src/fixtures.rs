//! The fixed messages of the scenarios: what `GetItem` and `StreamItems` return, and what the
//! load client sends to `Echo` (as JSON through the proxy, as protobuf directly).

use crate::pb::{Dimensions, GetItemRequest, Item, ItemState};

/// The id the `get` scenario asks for.
pub const GET_ID: &str = "item-000042";

/// The request of the `get` scenario, for direct gRPC.
pub fn get_item_request() -> GetItemRequest {
    GetItemRequest { id: GET_ID.into() }
}

/// The item `GetItem` returns and `StreamItems` repeats: about 1 KB as proto3 JSON (about
/// 800 B as protobuf).
pub fn item() -> Item {
    Item {
        id: GET_ID.into(),
        name: "Ergonomic mechanical keyboard, tenkeyless, hot-swappable switches".into(),
        description: "A compact tenkeyless keyboard with hot-swappable linear switches, PBT \
                      double-shot keycaps, a gasket-mounted aluminium case and a detachable \
                      braided USB-C cable. Three layers of programmable keys, per-key RGB \
                      lighting, and onboard memory for five profiles. Ships with a keycap \
                      puller, a switch puller and two spare switches."
            .into(),
        owner: "organizations/acme-peripherals/users/jdoe".into(),
        create_time_micros: 1_718_000_000_123_456,
        update_time_micros: 1_718_950_012_654_321,
        version: 1_842,
        stock: 12_500,
        price: 129.95,
        rating: 4.67,
        discount: 0.125,
        state: ItemState::Active.into(),
        dimensions: Some(Dimensions {
            width_cm: 35.6,
            height_cm: 3.9,
            depth_cm: 13.2,
            weight_kg: 0.98,
            packaging: "recycled cardboard, plastic-free".into(),
        }),
        tags: [
            "keyboard",
            "mechanical",
            "tenkeyless",
            "hot-swap",
            "usb-c",
            "rgb",
            "pbt",
            "gasket-mount",
        ]
        .map(String::from)
        .into(),
        attributes: [
            ("color", "graphite"),
            ("layout", "ANSI US"),
            ("switch", "linear, 45 gf"),
            ("warranty", "24 months"),
            ("sku", "KB-TKL-GR-US-2024"),
            ("origin", "assembled in Portugal"),
        ]
        .into_iter()
        .map(|(key, value)| (key.into(), value.into()))
        .collect(),
    }
}

/// The body of the `echo` scenario through the proxy: [`echo_item`] as proto3 JSON, about
/// 500 B.
pub const ECHO_JSON: &str = concat!(
    r#"{"id":"item-000007","name":"Wireless mouse, 4000 dpi","#,
    r#""description":"A light wireless mouse with a 4000 dpi sensor and 70 hours of battery.","#,
    r#""owner":"organizations/acme/users/jdoe","createTimeMicros":"1718000000123456","#,
    r#""updateTimeMicros":"1718950012654321","version":"17","stock":"420","price":39.5,"#,
    r#""rating":4.25,"discount":0.1,"state":"ITEM_STATE_ACTIVE","#,
    r#""dimensions":{"widthCm":6.2,"heightCm":3.8,"depthCm":11.5,"weightKg":0.07,"#,
    r#""packaging":"cardboard"},"tags":["mouse","wireless","usb-c"],"#,
    r#""attributes":{"color":"black","dpi":"4000"}}"#
);

/// The request of the `echo` scenario, for direct gRPC: the message [`ECHO_JSON`] spells.
pub fn echo_item() -> Item {
    Item {
        id: "item-000007".into(),
        name: "Wireless mouse, 4000 dpi".into(),
        description: "A light wireless mouse with a 4000 dpi sensor and 70 hours of battery."
            .into(),
        owner: "organizations/acme/users/jdoe".into(),
        create_time_micros: 1_718_000_000_123_456,
        update_time_micros: 1_718_950_012_654_321,
        version: 17,
        stock: 420,
        price: 39.5,
        rating: 4.25,
        discount: 0.1,
        state: ItemState::Active.into(),
        dimensions: Some(Dimensions {
            width_cm: 6.2,
            height_cm: 3.8,
            depth_cm: 11.5,
            weight_kg: 0.07,
            packaging: "cardboard".into(),
        }),
        tags: ["mouse", "wireless", "usb-c"].map(String::from).into(),
        attributes: [("color", "black"), ("dpi", "4000")]
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn echo_json_spells_echo_item() {
        let json: serde_json::Value = serde_json::from_str(ECHO_JSON).unwrap();
        let item = echo_item();
        assert_eq!(json["id"], item.id.as_str());
        assert_eq!(json["name"], item.name.as_str());
        assert_eq!(json["description"], item.description.as_str());
        assert_eq!(json["owner"], item.owner.as_str());
        assert_eq!(
            json["createTimeMicros"],
            item.create_time_micros.to_string()
        );
        assert_eq!(
            json["updateTimeMicros"],
            item.update_time_micros.to_string()
        );
        assert_eq!(json["version"], item.version.to_string());
        assert_eq!(json["stock"], item.stock.to_string());
        assert_eq!(json["price"], item.price);
        assert_eq!(json["rating"], item.rating);
        assert_eq!(json["discount"], item.discount);
        assert_eq!(json["state"], item.state().as_str_name());
        let dimensions = item.dimensions.unwrap();
        assert_eq!(json["dimensions"]["widthCm"], dimensions.width_cm);
        assert_eq!(json["dimensions"]["heightCm"], dimensions.height_cm);
        assert_eq!(json["dimensions"]["depthCm"], dimensions.depth_cm);
        assert_eq!(json["dimensions"]["weightKg"], dimensions.weight_kg);
        assert_eq!(
            json["dimensions"]["packaging"],
            dimensions.packaging.as_str()
        );
        assert_eq!(json["tags"], serde_json::json!(item.tags));
        assert_eq!(json["attributes"], serde_json::json!(item.attributes));
        assert_eq!(json.as_object().unwrap().len(), 15, "one key per field");
    }

    #[test]
    fn sizes_are_as_documented() {
        use prost::Message as _;
        let get = item().encode_to_vec().len();
        assert!((700..=1000).contains(&get), "GetItem protobuf is {get} B");
        assert!(
            (450..=600).contains(&ECHO_JSON.len()),
            "echo body is {} B",
            ECHO_JSON.len()
        );
    }
}
