# Sourced by .ci/run and .ci/node24.sh.
# tap's own closing line (`# { total: 3, pass: 3 }`) is not one CI recognises, so each suite is
# reported in the plain form instead. A run without tap's closing line (crash, no tests found)
# counts as one failure so it can never pass silently.

# tap_counts FILE: sets TAP_PASS and TAP_FAIL from the last tap summary in FILE; returns 1 when
# there is none.
tap_counts() {
  local summary
  summary=$(grep -E '^# \{ total: [0-9]+' "$1" | tail -n 1 || true)
  if [ -z "$summary" ]; then
    TAP_PASS=0
    TAP_FAIL=1
    return 1
  fi
  TAP_PASS=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
  TAP_FAIL=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
  TAP_PASS=${TAP_PASS:-0}
  TAP_FAIL=${TAP_FAIL:-0}
}
