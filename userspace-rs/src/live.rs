//! `--live`: dumps the maps of a program that is already running (loaded by
//! the user's own loader, say) without loading anything. The object is only
//! read for its types. Output: one `map` line per map, as the exit dump of a
//! normal run, then a `stats` line with no events, which marks the end.

use aya::maps::{Map, MapData, MapError};
use serde_json::json;

use crate::{
    catalog::Catalog,
    cli::LiveArgs,
    dump,
    output::{Failure, Stage, emit, error_chain},
    types::MapTypes,
};

/// The kernel keeps map names in 16 bytes, NUL included.
const KERNEL_NAME_LEN: usize = 15;

pub fn run(args: &LiveArgs) -> Result<(), Failure> {
    let parse_error = |message: String| Failure::new(Stage::Parse, message);
    let load_error = |message: String| Failure::new(Stage::Load, message);
    let object = std::fs::read(&args.object)
        .map_err(|e| parse_error(format!("reading {}: {e}", args.object.display())))?;
    let mut catalog = Catalog::new(&args.object, &object);
    for field in &args.keep_bytes {
        catalog
            .keep_bytes(&field.type_name, &field.field)
            .map_err(parse_error)?;
    }

    // Everything is found and checked before the first line is printed:
    // either every map is dumped or there is one `error` line.
    let mut targets: Vec<(String, Map, MapTypes)> = Vec::new();
    let live = if args.maps.is_empty() {
        Vec::new()
    } else {
        live_maps().map_err(load_error)?
    };
    for spec in &args.maps {
        let named = spec.types.as_ref().map(|(k, v)| (k.as_str(), v.as_str()));
        let types = catalog.map_types(&spec.map, named).map_err(parse_error)?;
        let id = find(&live, &spec.map).map_err(load_error)?;
        let map = MapData::from_id(id)
            .and_then(Map::from_map_data)
            .map_err(|e| {
                load_error(format!(
                    "opening map {} (id {id}): {}",
                    spec.map,
                    error_chain(&e)
                ))
            })?;
        targets.push((spec.map.clone(), map, types));
    }
    for spec in &args.pinned {
        let types = catalog
            .map_types(
                &spec.path.display().to_string(),
                Some((&spec.key, &spec.value)),
            )
            .map_err(parse_error)?;
        let map = MapData::from_pin(&spec.path)
            .and_then(Map::from_map_data)
            .map_err(|e| {
                load_error(format!(
                    "opening the map pinned at {}: {}",
                    spec.path.display(),
                    error_chain(&e)
                ))
            })?;
        targets.push((spec.path.display().to_string(), map, types));
    }
    for (name, map, types) in &targets {
        dump::check(name, map, types).map_err(parse_error)?;
    }

    for (name, map, types) in &targets {
        let body = dump::dump(name, map, types).map_err(|m| Failure::new(Stage::Run, m))?;
        emit("map", body);
    }
    emit("stats", json!({ "events": 0, "perMap": {} }));
    Ok(())
}

/// Id and kernel name of every map loaded in the kernel.
fn live_maps() -> Result<Vec<(u32, Vec<u8>)>, String> {
    let mut maps = Vec::new();
    for info in aya::maps::loaded_maps() {
        match info {
            Ok(info) => maps.push((info.id(), info.name().to_vec())),
            // Freed between listing its id and opening it.
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(format!(
                    "listing the maps loaded in the kernel: {}",
                    error_chain(&e)
                ));
            }
        }
    }
    Ok(maps)
}

/// The id of the one live map whose kernel name is `name`'s first 15 bytes.
fn find(live: &[(u32, Vec<u8>)], name: &str) -> Result<u32, String> {
    let kernel_name = &name.as_bytes()[..name.len().min(KERNEL_NAME_LEN)];
    let shown = String::from_utf8_lossy(kernel_name);
    let truncated = if kernel_name.len() < name.len() {
        format!(" (the kernel keeps the first {KERNEL_NAME_LEN} bytes of {name})")
    } else {
        String::new()
    };
    let ids: Vec<u32> = live
        .iter()
        .filter(|(_, live_name)| live_name == kernel_name)
        .map(|(id, _)| *id)
        .collect();
    match ids[..] {
        [id] => Ok(id),
        [] => Err(format!(
            "no live map is named {shown}{truncated} among the {} maps loaded in the kernel; \
             is the program that creates it running? (a pinned map opens with --pinned PATH=KEY:VALUE)",
            live.len()
        )),
        _ => Err(format!(
            "{} live maps are named {shown}{truncated} (ids {}); open the one meant by its pin path \
             with --pinned PATH=KEY:VALUE",
            ids.len(),
            ids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Vec<(u32, Vec<u8>)> {
        vec![
            (3, b"EXEC_EVENTS".to_vec()),
            (7, b"CONNECTS_BY_POR".to_vec()),
            (9, b"COUNTS".to_vec()),
            (12, b"COUNTS".to_vec()),
        ]
    }

    #[test]
    fn matches_on_the_truncated_kernel_name() {
        assert_eq!(find(&live(), "EXEC_EVENTS"), Ok(3));
        assert_eq!(find(&live(), "CONNECTS_BY_PORT"), Ok(7));
    }

    #[test]
    fn missing_and_ambiguous_names_are_explained() {
        let missing = find(&live(), "EXEC_DROPPED").unwrap_err();
        assert!(
            missing.starts_with("no live map is named EXEC_DROPPED among the 4 maps"),
            "{missing}"
        );
        let long = find(&live(), "A_VERY_LONG_MAP_NAME").unwrap_err();
        assert!(long.contains("named A_VERY_LONG_MAP (the kernel keeps the first 15 bytes of A_VERY_LONG_MAP_NAME)"), "{long}");
        let ambiguous = find(&live(), "COUNTS").unwrap_err();
        assert!(
            ambiguous.starts_with("2 live maps are named COUNTS (ids 9, 12)"),
            "{ambiguous}"
        );
    }
}
