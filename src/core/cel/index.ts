/**
 * # CEL conditions
 *
 * Rules can be limited by a `when:` condition written in CEL (https://cel.dev), the expression
 * language of Kubernetes and Envoy. A condition must give `true` or `false`; it is parsed and
 * checked when the policy loads, so a misspelt variable, field, function or time zone, an invalid
 * regular expression, or an expression that gives a string instead of a bool is a load error
 * that names the column.
 *
 * ## Variables
 *
 * | Variable              | Type                | Notes |
 * |-----------------------|---------------------|-------|
 * | `principal.subject`   | string, optional    | the token's subject; absent for anonymous callers |
 * | `principal.roles`     | list of string      | the caller's roles |
 * | `principal.tenant`    | string, optional    | from the claim mapped in `identity.jwt.claims` |
 * | `principal.region`    | string, optional    | idem |
 * | `principal.tier`      | string, optional    | idem |
 * | `principal.claims`    | map                 | every claim of the verified token, as decoded from JSON |
 * | `request.method`      | string              | `GET`, `POST`… |
 * | `request.path`        | string              | the canonical path, without the query string |
 * | `request.host`        | string, optional    | the Host header, lower-cased, without port or trailing dot |
 * | `request.route`       | string, optional    | the name of the matched route |
 * | `request.model`       | string, optional    | the model the request asks for |
 * | `request.headers`     | map string → string | lower-case names; repeated headers joined with `, ` |
 * | `request.body`        | map, optional       | the JSON body, when it is a JSON object |
 * | `time`                | timestamp           | when the request arrived |
 * | `source.ip`           | string              | the client's address |
 *
 * An optional field that is not set does not exist: reading it is an evaluation error (the rule's
 * `onError` decides what happens), so test it first with `has()`:
 * `has(principal.region) && principal.region == "eu"`. Header names with dashes are tested with
 * `in`: `"x-debug" in request.headers && request.headers["x-debug"] == "1"`.
 * JSON numbers from claims and bodies are doubles; comparing them with integers works
 * (`request.body.max_tokens > 1000`).
 *
 * ## Functions
 *
 * The CEL standard library (`size`, `in`, `has`, `all`, `exists`, `exists_one`, `map`, `filter`,
 * `startsWith`, `endsWith`, `contains`, `matches`, conversions, `timestamp()`, `duration()`) and
 * the strings extension (`lowerAscii`, `upperAscii`, `split`, `join`, `replace`, `substring`,
 * `trim`, `indexOf`, `lastIndexOf`, `charAt`, `format`).
 *
 * `matches` uses RE2 syntax and runs in time linear in the input (no backreferences, no
 * lookaround): `request.path.matches("^/v1/(chat|responses)")`.
 *
 * Timestamp accessors take an optional time zone, an IANA name or a fixed offset; without one
 * they read UTC. Daylight saving time follows the tz database:
 * `time.getHours("Europe/Berlin") >= 9 && time.getHours("Europe/Berlin") < 17`,
 * `time.getDayOfWeek("America/New_York") in [1, 2, 3, 4, 5]` (0 is Sunday).
 * `getFullYear`, `getMonth` (0–11), `getDate` (1–31), `getDayOfMonth` (0–30), `getDayOfWeek`
 * (0–6), `getDayOfYear` (0–365), `getHours`, `getMinutes`, `getSeconds`, `getMilliseconds`.
 *
 * ## Examples
 *
 * ```yaml
 * when: 'principal.region == "eu"'
 * when: '"analyst" in principal.roles && request.model == "large"'
 * when: 'has(principal.tier) && principal.tier in ["gold", "platinum"]'
 * when: 'principal.claims.email.endsWith("@example.com")'
 * when: 'time.getDayOfWeek("Europe/Paris") in [0, 6]'
 * ```
 */
export { compileCondition, type CompileResult, type Condition } from './compile.js'
export type { CelActivation, CelPrincipal, CelRequest } from './activation.js'
export type { CelVariableName } from './variables.js'
