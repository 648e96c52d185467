// Checking a request's audit bundle in the browser, with WebCrypto only:
//   every event's hash  = SHA-256 of the RFC 8785 (JCS) form of the event without "hash";
//   its leaf hash       = SHA-256(0x00 || hash), and the RFC 9162 inclusion proof leads to the
//                         checkpoint's root hash at the checkpoint's tree size;
//   the checkpoint      = a C2SP signed note whose Ed25519 signature the verifier key checks
//                         (where this browser's WebCrypto has Ed25519; it says so otherwise).

const encoder = new TextEncoder();

export function canonical(value) {
  // RFC 8785: ECMAScript number and string forms, object members sorted by UTF-16 code units.
  if (value === null || typeof value === "boolean" || typeof value === "number") return JSON.stringify(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function unhex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function unbase64(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function eventHash(event) {
  const { hash, ...rest } = event;
  return hex(await sha256(encoder.encode(canonical(rest))));
}

async function node(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

// RFC 9162, 2.1.3.2: the root an inclusion proof leads to (null when the proof is malformed).
export async function rootFromProof(leafIndex, treeSize, leafHash, path) {
  if (leafIndex >= treeSize) return null;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

export function parseCheckpoint(note) {
  const split = note.indexOf("\n\n");
  if (split < 0) return null;
  const text = note.slice(0, split + 1);
  const [origin, size, root] = text.split("\n");
  const signatures = note
    .slice(split + 2)
    .split("\n")
    .filter((line) => line.startsWith("— "))
    .map((line) => {
      const [name, sig] = line.slice(2).split(" ");
      return { name, sig };
    });
  return { text, origin, treeSize: Number(size), rootB64: root, signatures };
}

export function parseVerifierKey(vkey) {
  // <name>+<8 hex id>+<base64>: the base64 part may itself contain "+".
  const text = vkey.trim();
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 1 || second !== first + 9) return null;
  const [name, id, key] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  const raw = unbase64(key);
  if (raw.length !== 33 || raw[0] !== 1) return null;
  return { name, id, publicKey: raw.slice(1) };
}

// Ed25519 over the note's text; "unsupported" where WebCrypto lacks Ed25519.
export async function checkSignature(checkpoint, vkey) {
  const key = parseVerifierKey(vkey);
  if (!key) return { state: "fail", detail: "the verifier key is not in signed-note form" };
  const expectedId = hex((await sha256(concat(encoder.encode(key.name), Uint8Array.of(0x0a, 0x01), key.publicKey))).slice(0, 4));
  if (expectedId !== key.id) return { state: "fail", detail: "the verifier key's id does not match its public key" };
  const line = checkpoint.signatures.find((s) => s.name === key.name);
  if (!line) return { state: "fail", detail: `no signature by ${key.name}` };
  const blob = unbase64(line.sig);
  if (hex(blob.slice(0, 4)) !== key.id) return { state: "fail", detail: "the signature's key id is another key's" };
  let cryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return { state: "unsupported", detail: "this browser's WebCrypto has no Ed25519" };
  }
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, blob.slice(4), encoder.encode(checkpoint.text));
  return ok ? { state: "ok", detail: `signed by ${key.name}` } : { state: "fail", detail: "the signature does not verify" };
}

// Every check of one bundle: [{label, state: "ok"|"fail"|"unsupported", detail}].
export async function verifyBundle(bundle, vkey, requestId) {
  const checks = [];
  const checkpoint = parseCheckpoint(bundle.checkpoint || "");
  if (!checkpoint) return [{ label: "Checkpoint", state: "fail", detail: "the checkpoint is not a signed note" }];
  checks.push({ label: "Checkpoint", state: "ok", detail: `${checkpoint.origin}, tree size ${checkpoint.treeSize}` });
  checks.push(vkey ? { label: "Signature", ...(await checkSignature(checkpoint, vkey)) } : { label: "Signature", state: "unsupported", detail: "no verifier key (GET /audit/key)" });
  const root = hex(unbase64(checkpoint.rootB64));
  const events = bundle.events || [];
  const proofs = bundle.proofs || [];
  let hashes = 0;
  let included = 0;
  const problems = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    const proof = proofs[i];
    if (requestId && event.stream !== `request:${requestId}`) problems.push(`event ${event.position} is not this request's`);
    if ((await eventHash(event)) === event.hash) hashes++;
    else problems.push(`event ${event.position}: hash does not match its content`);
    if (!proof || proof.position !== event.position) {
      problems.push(`event ${event.position}: no inclusion proof`);
      continue;
    }
    const leaf = await sha256(concat(Uint8Array.of(0), unhex(event.hash)));
    const computed = await rootFromProof(proof.leaf_index, proof.tree_size, leaf, proof.hashes.map(unhex));
    if (hex(leaf) === proof.leaf_hash && computed && hex(computed) === root && proof.tree_size === checkpoint.treeSize) included++;
    else problems.push(`event ${event.position}: inclusion proof does not lead to the checkpoint's root`);
  }
  checks.push({ label: "Event hashes", state: hashes === events.length && events.length > 0 ? "ok" : "fail", detail: `${hashes} of ${events.length} events hash to their content` });
  checks.push({ label: "Inclusion proofs", state: included === events.length && events.length > 0 ? "ok" : "fail", detail: `${included} of ${events.length} events are in the signed tree` });
  for (const problem of problems.slice(0, 5)) checks.push({ label: "Problem", state: "fail", detail: problem });
  return checks;
}
