/**
 * CURVE (CurveZMQ) for buses that cross hosts: the publisher is the CURVE server, every reader
 * (subscribers, validator, console, health sampler, `nbpy bus tail`) a CURVE client. Traffic is
 * encrypted, and a reader that does not hold the server's public key completes no handshake and so
 * receives nothing. Keys are Z85 text (40 characters), made by `nbpy bus keygen`.
 *
 * Where keys come from (config `bus.curve`): an environment variable named in the config, or a key
 * file named in the config (JSON `{"publicKey": "...", "secretKey": "..."}`, written 0600 by keygen).
 * Secret keys are never logged: errors name the variable or file, not its value.
 */
import { readFileSync } from 'node:fs';
import { curveKeyPair } from 'zeromq';
import type { Config } from '../config/schema.js';
import { UsageError } from '../core/errors.js';

export type CurveConfig = Config['bus']['curve'];

/** A CURVE key pair in Z85 text. */
export interface CurveKeyPair {
  publicKey: string;
  secretKey: string;
}

/** What the publisher (CURVE server) needs. */
export type CurveServerKeys = CurveKeyPair;

/** What a reader (CURVE client) needs: the server's public key and its own pair (ephemeral when not configured). */
export interface CurveClientKeys extends CurveKeyPair {
  serverPublicKey: string;
}

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/** True for a 40-character Z85 CURVE key. */
export function isCurveKey(s: unknown): s is string {
  return typeof s === 'string' && Z85_KEY.test(s);
}

/** A fresh key pair (zeromq's curveKeyPair). */
export function generateCurveKeyPair(): CurveKeyPair {
  return curveKeyPair();
}

interface KeyFile {
  publicKey?: string;
  secretKey?: string;
}

function readKeyFile(path: string, what: string): KeyFile {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `bus.curve.${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); create it with \`nbpy bus keygen --out ${path}\``,
    );
  }
  try {
    return JSON.parse(raw) as KeyFile;
  } catch {
    // The parse error message could quote the file's content (a secret key): name the file only.
    throw new UsageError(
      `bus.curve.${what}: ${path} is not JSON; expected {"publicKey": "...", "secretKey": "..."} as written by \`nbpy bus keygen\``,
    );
  }
}

/** One key: the env var if it is set, else the key file's field; validated, never echoed. */
function pickKey(
  env: NodeJS.ProcessEnv,
  envName: string,
  file: KeyFile | undefined,
  field: keyof KeyFile,
  where: string,
): string | undefined {
  const v = env[envName] || file?.[field];
  if (v === undefined || v === '') return undefined;
  if (!isCurveKey(v))
    throw new UsageError(
      `bus.curve: the ${field === 'publicKey' ? 'public' : 'secret'} key from ${where} is not a 40-character Z85 CURVE key; generate keys with \`nbpy bus keygen\``,
    );
  return v;
}

const whereOf = (envName: string, file?: string) => (file ? `${envName} or ${file}` : envName);

/** The publisher's CURVE server keys, or undefined when CURVE is off. Throws a UsageError naming what is missing. */
export function curveServerKeys(cfg: CurveConfig, env: NodeJS.ProcessEnv = process.env): CurveServerKeys | undefined {
  if (!cfg.enabled) return undefined;
  const file =
    cfg.serverKeyFile && !(env[cfg.serverSecretKeyEnv] && env[cfg.serverPublicKeyEnv])
      ? readKeyFile(cfg.serverKeyFile, 'serverKeyFile')
      : undefined;
  const where = whereOf(cfg.serverSecretKeyEnv, cfg.serverKeyFile);
  const secretKey = pickKey(env, cfg.serverSecretKeyEnv, file, 'secretKey', where);
  const publicKey = pickKey(env, cfg.serverPublicKeyEnv, file, 'publicKey', whereOf(cfg.serverPublicKeyEnv, cfg.serverKeyFile));
  if (!secretKey || !publicKey)
    throw new UsageError(
      `bus.curve is enabled but the publisher's CURVE server key pair is missing: set ${cfg.serverPublicKeyEnv} and ${cfg.serverSecretKeyEnv}` +
        `${cfg.serverKeyFile ? ` or write ${cfg.serverKeyFile}` : ' or name a key file in bus.curve.serverKeyFile'} (\`nbpy bus keygen\` makes one)`,
    );
  return { publicKey, secretKey };
}

/**
 * A reader's CURVE client keys, or undefined when CURVE is off. Only the server's PUBLIC key is
 * required (env var or the server key file; a subscriber host needs no server secret). The client's
 * own pair comes from the config when set, else a fresh ephemeral pair per process.
 */
export function curveClientKeys(cfg: CurveConfig, env: NodeJS.ProcessEnv = process.env): CurveClientKeys | undefined {
  if (!cfg.enabled) return undefined;
  const serverFile = cfg.serverKeyFile && !env[cfg.serverPublicKeyEnv] ? readKeyFile(cfg.serverKeyFile, 'serverKeyFile') : undefined;
  const serverPublicKey = pickKey(env, cfg.serverPublicKeyEnv, serverFile, 'publicKey', whereOf(cfg.serverPublicKeyEnv, cfg.serverKeyFile));
  if (!serverPublicKey)
    throw new UsageError(
      `bus.curve is enabled but the publisher's CURVE public key is missing: set ${cfg.serverPublicKeyEnv}` +
        `${cfg.serverKeyFile ? ` or write ${cfg.serverKeyFile}` : ''} (the publicKey printed by \`nbpy bus keygen\`)`,
    );
  const clientFile =
    cfg.clientKeyFile && !(env[cfg.clientSecretKeyEnv] && env[cfg.clientPublicKeyEnv])
      ? readKeyFile(cfg.clientKeyFile, 'clientKeyFile')
      : undefined;
  const secretKey = pickKey(env, cfg.clientSecretKeyEnv, clientFile, 'secretKey', whereOf(cfg.clientSecretKeyEnv, cfg.clientKeyFile));
  const publicKey = pickKey(env, cfg.clientPublicKeyEnv, clientFile, 'publicKey', whereOf(cfg.clientPublicKeyEnv, cfg.clientKeyFile));
  if (secretKey && publicKey) return { serverPublicKey, publicKey, secretKey };
  return { serverPublicKey, ...generateCurveKeyPair() };
}

/** zeromq socket options of a CURVE server (spread into `new Publisher({...})`). */
export function curveServerSocketOptions(k: CurveServerKeys | undefined): Record<string, unknown> {
  return k ? { curveServer: true, curvePublicKey: k.publicKey, curveSecretKey: k.secretKey } : {};
}

/** zeromq socket options of a CURVE client (spread into `new Subscriber({...})`). */
export function curveClientSocketOptions(k: CurveClientKeys | undefined): Record<string, unknown> {
  return k ? { curveServerKey: k.serverPublicKey, curvePublicKey: k.publicKey, curveSecretKey: k.secretKey } : {};
}
