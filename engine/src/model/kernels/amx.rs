//! The AMX-BF16 tile (Sapphire Rapids and later Intel Xeons): `tdpbf16ps` multiplies a 16 × 32
//! bf16 tile of activations by a 16 × 16 tile of packed weights (32 inner positions as 16 pairs)
//! into a 16 × 16 f32 tile, 8,192 multiply-adds per instruction against `vdpbf16ps`'s 512.
//!
//! The packed layout needs no change for it: the instruction's weight operand holds, in row `q`,
//! the 16 output columns' values at inner pair `q` side by side — one [`PairBlock`] — so a
//! panel's 16 consecutive blocks are one weight tile, read with a 64-byte row stride. The
//! activations are read in place (row stride `lda`), the f32 results from and back to the
//! group's accumulator (row stride `ldacc`).
//!
//! Register plan (the eight tile registers, all configured 16 rows × 64 bytes): `tmm0..3` the
//! results of 2 row tiles × 2 panels, `tmm4..5` the two row tiles' activations, `tmm6..7` the
//! two panels' weights; each step of 16 pairs loads four tiles and issues four products. This
//! is the 2 × 2 blocking oneDNN's AMX kernels use.
//!
//! Linux hands out the 8 KiB tile state only to a process that asks for it
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`); [`available`] asks once and reports
//! AMX only where the processor has it and the kernel granted it.
//!
//! [`PairBlock`]: super::packed::PairBlock

use std::arch::asm;
use std::sync::OnceLock;

use super::gemm::Tile;
use super::packed::PANEL;

/// Rows of one activation or result tile.
pub(super) const TILE_ROWS: usize = 16;
/// Inner pairs of one step: 64 bytes of bf16 pairs per activation row.
pub(super) const TILE_PAIRS: usize = 16;
/// Row tiles one call handles at most (the register plan above).
pub(super) const MAX_ROW_TILES: usize = 2;

/// Whether this process may run AMX-BF16: the processor reports AMX-TILE and AMX-BF16 (CPUID
/// leaf 7, EDX bits 24 and 22) and Linux granted the tile state. Asked once per process.
pub(super) fn available() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(|| cpu_has_amx_bf16() && request_tile_state())
}

fn cpu_has_amx_bf16() -> bool {
    // Leaf 0 says which leaves exist; leaf 7 sub-leaf 0 carries the AMX bits.
    if std::arch::x86_64::__cpuid(0).eax < 7 {
        return false;
    }
    let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
    edx & (1 << 24) != 0 && edx & (1 << 22) != 0
}

#[cfg(target_os = "linux")]
fn request_tile_state() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM takes an integer feature number and touches no
    // memory of ours; an old kernel or a refused request returns an error, which we report as
    // "no AMX".
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn request_tile_state() -> bool {
    false
}

/// The tile configuration `ldtilecfg` reads: palette 1, every register 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

static CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        // Bytes 16 + 2t: the row width of register t in bytes (u16, little-endian); byte 48 + t:
        // its row count.
        c[16 + 2 * t] = 64;
        c[48 + t] = TILE_ROWS as u8;
        t += 1;
    }
    TileConfig(c)
};

macro_rules! tile_load {
    ($tmm:literal, $ptr:expr, $stride:expr) => {
        asm!(
            concat!("tileloadd tmm", $tmm, ", [{p} + {s} * 1]"),
            p = in(reg) $ptr,
            s = in(reg) $stride,
            options(nostack, readonly, preserves_flags)
        )
    };
}

macro_rules! tile_store {
    ($tmm:literal, $ptr:expr, $stride:expr) => {
        asm!(
            concat!("tilestored [{p} + {s} * 1], tmm", $tmm),
            p = in(reg) $ptr,
            s = in(reg) $stride,
            options(nostack, preserves_flags)
        )
    };
}

macro_rules! tile_dot {
    ($c:literal, $a:literal, $b:literal) => {
        asm!(
            concat!("tdpbf16ps tmm", $c, ", tmm", $a, ", tmm", $b),
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// Adds the tile's products to `acc` (row `i`, panel `p` at `acc + i * ldacc + 16 p`).
///
/// # Safety
/// [`available`] returned true on this process; `t.rows` is 16 or 32, `t.pairs` a positive
/// multiple of 16, `t.panels` 1 to 4; `t` is in bounds (`Tile::in_bounds`) and `acc` holds
/// `t.rows` rows of `ldacc >= 16 * t.panels` f32.
pub(super) unsafe fn tile(t: &Tile<'_>, acc: *mut f32, ldacc: usize) {
    let a = t.a.as_ptr().cast::<u8>();
    let b = t.b.as_ptr().cast::<u8>();
    let c = acc.cast::<u8>();
    let a_stride = t.lda * 2;
    let c_stride = ldacc * 4;
    let panel_bytes = t.panel_stride * 64;
    // SAFETY: the configuration is a valid palette-1 configuration (every register 16 × 64 bytes,
    // within the palette's 16 rows × 64 bytes limit), and the process holds the tile state.
    unsafe { asm!("ldtilecfg [{}]", in(reg) &raw const CONFIG, options(nostack, readonly)) };
    let mut p = 0;
    while p < t.panels {
        let two_panels = t.panels - p >= 2;
        // SAFETY: panels p (and p + 1) < t.panels; every row read below is < t.rows and every
        // pair < t.pairs, so the addresses are the ones `Tile::in_bounds` and the caller's
        // `acc` guarantee (see `pass`).
        unsafe {
            let (ap, bp, cp) = (a, b.add(p * panel_bytes), c.add(p * PANEL * 4));
            match (t.rows / TILE_ROWS, two_panels) {
                (1, false) => pass::<1, 1>(ap, a_stride, bp, panel_bytes, t.pairs, cp, c_stride),
                (1, true) => pass::<1, 2>(ap, a_stride, bp, panel_bytes, t.pairs, cp, c_stride),
                (_, false) => pass::<2, 1>(ap, a_stride, bp, panel_bytes, t.pairs, cp, c_stride),
                (_, true) => pass::<2, 2>(ap, a_stride, bp, panel_bytes, t.pairs, cp, c_stride),
            }
        }
        p += if two_panels { 2 } else { 1 };
    }
    // SAFETY: gives the tile state back (a context switch then saves no tile data); always
    // valid after ldtilecfg.
    unsafe { asm!("tilerelease", options(nomem, nostack, preserves_flags)) };
}

/// `MT` row tiles × `NP` panels over all `pairs`: results loaded from `c`, accumulated, stored.
///
/// # Safety
/// Tiles are configured (16 × 64 bytes each); `a` has `16 MT` rows of `a_stride` bytes with
/// `4 pairs` readable bytes each; `b` has `NP` panels `panel_bytes` apart of at least `pairs`
/// 64-byte blocks; `c` has `16 MT` rows of `c_stride` bytes with `64 NP` bytes each.
#[inline(always)]
unsafe fn pass<const MT: usize, const NP: usize>(
    a: *const u8,
    a_stride: usize,
    b: *const u8,
    panel_bytes: usize,
    pairs: usize,
    c: *mut u8,
    c_stride: usize,
) {
    const B_STRIDE: usize = 64;
    // SAFETY: every address below is inside the regions the caller guarantees: rows < 16 MT,
    // columns < 64 NP bytes of `c`; activation bytes < 4 pairs of each of 16 MT rows; weight
    // blocks < pairs of each of NP panels.
    unsafe {
        let c_low = c.add(TILE_ROWS * c_stride);
        tile_load!(0, c, c_stride);
        if NP == 2 {
            tile_load!(1, c.add(64), c_stride);
        }
        if MT == 2 {
            tile_load!(2, c_low, c_stride);
            if NP == 2 {
                tile_load!(3, c_low.add(64), c_stride);
            }
        }
        let a_low = a.add(TILE_ROWS * a_stride);
        let mut q = 0;
        while q < pairs {
            tile_load!(4, a.add(4 * q), a_stride);
            tile_load!(6, b.add(64 * q), B_STRIDE);
            if MT == 2 {
                tile_load!(5, a_low.add(4 * q), a_stride);
            }
            if NP == 2 {
                tile_load!(7, b.add(panel_bytes + 64 * q), B_STRIDE);
            }
            tile_dot!(0, 4, 6);
            if NP == 2 {
                tile_dot!(1, 4, 7);
            }
            if MT == 2 {
                tile_dot!(2, 5, 6);
                if NP == 2 {
                    tile_dot!(3, 5, 7);
                }
            }
            q += TILE_PAIRS;
        }
        tile_store!(0, c, c_stride);
        if NP == 2 {
            tile_store!(1, c.add(64), c_stride);
        }
        if MT == 2 {
            tile_store!(2, c_low, c_stride);
            if NP == 2 {
                tile_store!(3, c_low.add(64), c_stride);
            }
        }
    }
}

/// Tile products per step of [`peak_loop`]: the four result registers, so that consecutive
/// products do not wait on each other.
const PEAK_DOTS: usize = 4;

/// Floating-point operations of one `tdpbf16ps` on full tiles: 16 × 16 results × 32 products,
/// a multiply and an add each.
pub(super) const FLOP_PER_DOT: usize = 16 * 16 * 32 * 2;

/// Runs `steps × 4` tile products on registers alone (no memory operands) and returns the
/// products issued: the processor's tile throughput, the ceiling of the kernel.
///
/// # Safety
/// [`available`] returned true on this process.
pub(super) unsafe fn peak_loop(steps: usize) -> usize {
    // SAFETY: valid configuration, tile state granted (the caller's guarantee); the products
    // read and write tile registers only, and `tilerelease` ends the use.
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &raw const CONFIG, options(nostack, readonly));
        asm!(
            "tilezero tmm4",
            "tilezero tmm5",
            "tilezero tmm6",
            "tilezero tmm7",
            options(nomem, nostack, preserves_flags)
        );
        for _ in 0..steps {
            tile_dot!(0, 4, 6);
            tile_dot!(1, 4, 7);
            tile_dot!(2, 5, 6);
            tile_dot!(3, 5, 7);
        }
        asm!("tilerelease", options(nomem, nostack, preserves_flags));
    }
    steps * PEAK_DOTS
}
