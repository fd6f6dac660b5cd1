//! Lists audio devices as Runde sees them (a diagnostic for operators and developers).
#![allow(clippy::print_stdout)]
fn main() {
    for kind in [
        runde_media::audio::device::DeviceKind::Microphone,
        runde_media::audio::device::DeviceKind::Speaker,
    ] {
        match runde_media::audio::device::list_devices(kind) {
            Ok(devices) => {
                println!("{kind:?}:");
                for d in devices {
                    println!(
                        "  {}{}  ({})",
                        d.name,
                        if d.is_default { " [default]" } else { "" },
                        d.id
                    );
                }
            }
            Err(e) => println!("{kind:?}: {e}"),
        }
    }
}
