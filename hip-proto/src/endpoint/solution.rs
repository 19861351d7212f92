//! First I2 check, before any per-peer state, MAC or signature work (RFC 7401
//! section 4.1.1 and section 6.9 steps 3-5; RFC 5201 section 6.9): #I must be one
//! we issued (recomputed from the puzzle secret, so no R1 state is kept) and J must
//! solve the puzzle.

use super::compat::CompatProfile;
use super::counters::DropReason;
use super::puzzle_secret::PuzzleSecrets;
use crate::crypto::puzzle::Puzzle;
use crate::crypto::rhash::Rhash;
use crate::Hit;

/// The SOLUTION parameter's values as received in I2.
#[derive(Debug, Clone, Copy)]
pub struct SolutionView<'a> {
    /// Difficulty K echoed by the initiator.
    pub k: u8,
    /// Opaque field: our R1 generation (big-endian u16 in its first two bytes).
    pub opaque: &'a [u8],
    /// #I echoed.
    pub i: &'a [u8],
    /// The initiator's J.
    pub j: &'a [u8],
}

/// Checks an I2 SOLUTION statelessly. Cost: one HMAC and one RHASH (two
/// for a v1 solution that fails the RFC test). Returns the profile the
/// exchange goes on under: `profile`, or [`CompatProfile::OpenHip`] when an
/// unconfigured (strict) peer's RFC 5201 solution (SHA-1, 8-octet #I) with
/// K > 0 fails the RFC test and passes OpenHIP 0.9's: no RFC peer solves
/// that way, and the puzzle's work is the same either way, so OpenHIP is
/// recognised by its I2 (issue 17's auto-selection).
pub fn check_solution(
    secrets: &PuzzleSecrets,
    rhash: Rhash,
    profile: CompatProfile,
    hit_i: &Hit,
    hit_r: &Hit,
    sol: &SolutionView<'_>,
) -> Result<CompatProfile, DropReason> {
    let generation = match sol.opaque {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return Err(DropReason::BadPuzzle),
    };
    secrets
        .check(generation, sol.k, hit_i, hit_r, sol.i)
        .map_err(|_| DropReason::BadPuzzle)?;
    let p = Puzzle {
        rhash,
        k: sol.k,
        i: sol.i,
        hit_i,
        hit_r,
        order: profile.puzzle_input_order(),
    };
    if p.verify(sol.j) {
        return Ok(profile);
    }
    let v1_rules = rhash == Rhash::Sha1 && sol.i.len() == 8;
    let openhip = Puzzle {
        order: crate::crypto::puzzle::PuzzleInputOrder::OpenHipLittleEndian,
        ..p
    };
    if profile == CompatProfile::Strict && v1_rules && sol.k > 0 && openhip.verify(sol.j) {
        return Ok(CompatProfile::OpenHip);
    }
    Err(DropReason::BadPuzzle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> impl FnMut(&mut [u8]) {
        |b: &mut [u8]| {
            b.iter_mut()
                .enumerate()
                .for_each(|(n, x)| *x = n as u8 ^ 0x5a)
        }
    }

    #[test]
    fn accepts_our_puzzle_and_rejects_everything_else() {
        let mut r = rng();
        let secrets = PuzzleSecrets::new(&mut r);
        let (hi, hr) = (Hit([1; 16]), Hit([2; 16]));
        let k = 8;
        for profile in [CompatProfile::Strict, CompatProfile::Cutehip] {
            let i = secrets.compute(0, k, &hi, &hr, 32).expect("i");
            let j = Puzzle {
                rhash: Rhash::Sha256,
                k,
                i: &i,
                hit_i: &hi,
                hit_r: &hr,
                order: profile.puzzle_input_order(),
            }
            .solve(&[0; 32], 1 << 20)
            .expect("found");
            let opaque = [0, 0];
            let ok = SolutionView {
                k,
                opaque: &opaque,
                i: &i,
                j: &j,
            };
            assert_eq!(
                check_solution(&secrets, Rhash::Sha256, profile, &hi, &hr, &ok),
                Ok(profile)
            );
            // Wrong J, forged I, lowered K, unknown generation, short opaque, swapped HITs.
            let mut bad_j = j.clone();
            bad_j[31] ^= 1;
            let mut bad_i = i.clone();
            bad_i[0] ^= 1;
            let gen9 = [0, 9];
            for sol in [
                SolutionView { j: &bad_j, ..ok },
                SolutionView { i: &bad_i, ..ok },
                SolutionView { k: 0, ..ok },
                SolutionView {
                    opaque: &gen9,
                    ..ok
                },
                SolutionView { opaque: &[], ..ok },
            ] {
                assert_eq!(
                    check_solution(&secrets, Rhash::Sha256, profile, &hi, &hr, &sol),
                    Err(DropReason::BadPuzzle)
                );
            }
            assert!(check_solution(&secrets, Rhash::Sha256, profile, &hr, &hi, &ok).is_err());
        }
    }

    #[test]
    fn an_openhip_solution_from_an_unconfigured_v1_peer_selects_openhip() {
        let mut r = rng();
        let secrets = PuzzleSecrets::new(&mut r);
        let (hi, hr) = (Hit([1; 16]), Hit([2; 16]));
        let k = 10;
        let i = secrets.compute(0, k, &hi, &hr, 8).expect("i");
        let p = Puzzle {
            rhash: Rhash::Sha1,
            k,
            i: &i,
            hit_i: &hi,
            hit_r: &hr,
            order: crate::crypto::puzzle::PuzzleInputOrder::OpenHipLittleEndian,
        };
        // An OpenHIP-only solution (one that also passes the RFC test is
        // just an RFC solution).
        let mut start = [0u8; 8];
        let mut found = None;
        for _ in 0..16 {
            let j = p.solve(&start, 1 << 20).expect("found");
            let rfc = Puzzle {
                order: crate::crypto::puzzle::PuzzleInputOrder::Rfc,
                ..p
            };
            if !rfc.verify(&j) {
                found = Some(j);
                break;
            }
            start = j.clone().try_into().unwrap();
            start[7] = start[7].wrapping_add(1);
        }
        let j = found.expect("an OpenHIP-only solution within 16 tries");
        let sol = SolutionView {
            k,
            opaque: &[0, 0],
            i: &i,
            j: &j,
        };
        let check = |profile| check_solution(&secrets, Rhash::Sha1, profile, &hi, &hr, &sol);
        assert_eq!(check(CompatProfile::Strict), Ok(CompatProfile::OpenHip));
        assert_eq!(check(CompatProfile::OpenHip), Ok(CompatProfile::OpenHip));
        // A peer configured as another implementation keeps its rules.
        assert_eq!(check(CompatProfile::Hipl108), Err(DropReason::BadPuzzle));
        // Not at K = 0 (everything passes) nor under v2 rules.
        let k0 = SolutionView { k: 0, ..sol };
        let i0 = secrets.compute(0, 0, &hi, &hr, 8).expect("i");
        let k0 = SolutionView { i: &i0, ..k0 };
        assert_eq!(
            check_solution(&secrets, Rhash::Sha1, CompatProfile::Strict, &hi, &hr, &k0),
            Ok(CompatProfile::Strict)
        );
    }
}
