//! Deterministic randomness: the splitmix64 traffic PRNG and its seed, FNV-1a hashes for stable
//! per-name choices, and Kubernetes-style random name suffixes.

/// Seed of the traffic PRNG; change it and the fixture changes.
pub(crate) const SEED: u64 = 0x666c_6f77_706f_6c79;

/// Alphabet Kubernetes uses for generated name suffixes.
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// splitmix64: tiny, fast, good enough for synthetic traffic, and fully deterministic.
#[derive(Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Client ephemeral port in Linux's default range 32768–60999.
    pub(crate) fn ephemeral_port(&mut self) -> u32 {
        self.range(32768, 60999) as u32
    }
}

/// FNV-1a, for stable per-name choices independent of generation order.
pub(crate) fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A Kubernetes-style random suffix derived from `seed`.
pub(crate) fn k8s_suffix(seed: &str, len: usize) -> String {
    let mut rng = SplitMix64(fnv1a(seed));
    (0..len)
        .map(|_| K8S_ALPHABET[rng.below(K8S_ALPHABET.len() as u64) as usize] as char)
        .collect()
}
