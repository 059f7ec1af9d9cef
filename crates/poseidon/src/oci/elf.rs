//! What an image needs to know of its executable, read from the ELF header: the
//! architecture (the image's platform), and that it is static. The image has no libc and
//! no dynamic loader, so an executable that names an interpreter (`PT_INTERP`) could not
//! start there: it is refused when the image is built, not when a pod crash-loops.

/// The OCI architecture (`GOARCH` names) of a 64-bit little-endian ELF executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const PT_INTERP: u32 = 3;

/// Reads the architecture of the executable `bytes`, refusing what is not a static
/// 64-bit little-endian ELF executable of a known architecture (the message says which).
pub fn static_executable(bytes: &[u8]) -> Result<Arch, String> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err("is not an ELF executable".into());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err("is not a 64-bit little-endian ELF executable".into());
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let arch = match u16_at(18) {
        EM_X86_64 => Arch::Amd64,
        EM_AARCH64 => Arch::Arm64,
        other => {
            return Err(format!(
                "is for ELF machine {other}, neither x86_64 nor aarch64"
            ));
        }
    };
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (usize::from(u16_at(54)), usize::from(u16_at(56)));
    for index in 0..phnum {
        let at = phoff.saturating_add(index.saturating_mul(phentsize));
        let Some(kind) = bytes.get(at..at + 4) else {
            return Err("has a program header table past its end".into());
        };
        if u32::from_le_bytes(kind.try_into().expect("4 bytes")) == PT_INTERP {
            return Err(
                "is dynamically linked (it names an interpreter), and the image has no \
                        libc: build it static (e.g. --target x86_64-unknown-linux-musl)"
                    .into(),
            );
        }
    }
    Ok(arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_is_dynamic_and_refused_so() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let refused = static_executable(&me).unwrap_err();
        assert!(refused.contains("dynamically linked"), "{refused}");
    }

    #[test]
    fn not_elf_is_refused() {
        assert_eq!(
            static_executable(b"#!/bin/sh\necho hi\n").unwrap_err(),
            "is not an ELF executable"
        );
        let mut truncated = vec![0u8; 64];
        truncated[..6].copy_from_slice(b"\x7fELF\x02\x01");
        truncated[18] = 62;
        truncated[32] = 200; // program headers beyond the end
        truncated[54] = 56;
        truncated[56] = 1;
        assert!(
            static_executable(&truncated)
                .unwrap_err()
                .contains("past its end")
        );
    }

    #[test]
    fn a_static_header_gives_its_architecture() {
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[18] = 183;
        elf[32] = 64;
        elf[54] = 56;
        elf[56] = 1;
        elf[64] = 1; // PT_LOAD
        assert_eq!(static_executable(&elf), Ok(Arch::Arm64));
        elf[64] = 3; // PT_INTERP
        assert!(static_executable(&elf).is_err());
    }
}
