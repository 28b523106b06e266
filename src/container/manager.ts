// The containers API behind `hull run|create|start|stop|kill|rm|ps|exec|…`: docker's model (named
// containers from images, a writable layer each, volumes, logs) on top of the OCI runtime in
// src/runtime. The runtime's state lives under <root>/runtime, keyed by the container id; this
// module keeps its own record (container.json, see store.ts) and reconciles it with the runtime's
// view whenever it is read, so a container whose monitor or CLI was killed shows up truthfully.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { stateRoot } from '../config';
import { native } from '../native';
import { clearVolatileMark, isMountPoint, mountRootfs, unmountRootfs } from '../image/rootfs';
import { ImageStore, type ImageRecord } from '../image/store';
import type { ContainerConfig } from '../image/types';
import { HullRuntimeError, Runtime, type RuntimeOptions } from '../runtime';
import type { Mount, Process, Resources, Seccomp, Spec } from '../runtime/spec';
import type { CgroupStats } from '../cgroup';
import type { Stdio } from '../runtime/helper-process';
import { ContainerCliError, ContainerStateError, NoSuchContainerError, usageError } from './errors';
import {
  containerPath, normalizeSignal, parseEnvFile, parseSize, parseEnvFlags, parseLabels, parseMountFlag, parseTmpfsFlag, parseVolumeFlag,
  validateContainerName, checkUlimitsAgainstHost, parseLimitFlags, type LimitFlags, type MountRequest,
} from './options';
import { ATTACH_SOCKET, DEFAULT_DETACH_KEYS, attachToSocket, parseDetachKeys } from './attach';
import { ConsoleRelay } from './console';
import { OutputTee } from './logs';
import type { Change, CommitOptions } from './layer';
import { readFileInRoot, resolveUser, withRootFd } from './rootfs-files';
import { applyLimits, applyUserns, boundingCapabilities, buildContainerSpec, effectiveCapabilities, loadSeccompProfile, DEFAULT_PATH, mergeEnv, resolveArgs, resolveDevice } from './spec';
import { ContainerStore, CREATING_FILE, generateName } from './store';
import { ZERO_TIME, type ContainerRecord, type ContainerStatus, type MountPoint } from './types';
import { VolumeStore } from './volumes';
import { parseUsernsMode, remapRanges, shiftOwners } from './userns';
import { mountIdmappedRootfs, mountRemappedRootfs, needsIdmap, specRanges } from './idmap';

export interface ContainerManagerOptions {
  /** State root (`--root`); default $HULL_ROOT or /var/lib/hull. */
  root?: string;
  onWarning?: (message: string) => void;
  /** The helper's step trace (`hull run --explain`: createExplainer from src/trace/explain). */
  onTrace?: RuntimeOptions['onTrace'];
}

export interface CreateContainerOptions {
  image: string;
  command?: string[];
  name?: string;
  env?: string[];
  envFiles?: string[];
  workdir?: string;
  user?: string;
  /** `--entrypoint`: "" clears the image's entrypoint. */
  entrypoint?: string;
  hostname?: string;
  volumes?: string[];
  mounts?: string[];
  tmpfs?: string[];
  readOnly?: boolean;
  network?: string;
  labels?: string[];
  stopSignal?: string;
  stopTimeout?: number;
  pull?: 'missing' | 'always' | 'never';
  tty?: boolean;
  interactive?: boolean;
  autoRemove?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  logOpts?: string[];
  /** `-m`: memory limit ("32m", bytes). */
  memory?: string;
  /** The other limit flags (--cpus, --pids-limit, --ulimit, --sysctl, --device, …), docker's syntax. */
  limits?: LimitFlags;
  /** `--userns host|remap`. */
  userns?: string;
}

export interface StartOptions {
  /** Foreground: the container's stdio is ours; resolves with its exit code. */
  attach?: boolean;
  /** Foreground stdio (default: inherit, stdin only when the container was made with -i). */
  stdio?: Stdio;
  /** Attach stdin (default: the container's -i). */
  interactive?: boolean;
  onStarted?: (pid: number) => void;
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  command: string;
  created: string;
  status: ContainerStatus;
  /** docker's STATUS column: "Up 5 seconds", "Exited (0) 2 minutes ago". */
  statusText: string;
  exitCode: number;
  labels: Record<string, string>;
  mounts: string[];
  pid: number;
}

export interface ExecContainerOptions {
  command: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  tty?: boolean;
  interactive?: boolean;
  detach?: boolean;
  privileged?: boolean;
  stdio?: Stdio;
  onStarted?: (pid: number) => void;
}

const ETC_FILES = ['hostname', 'hosts', 'resolv.conf'] as const;

/** Sleep without holding anything. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ContainerManager {
  readonly root: string;
  readonly store: ContainerStore;
  readonly volumes: VolumeStore;
  readonly runtime: Runtime;
  private imageStore?: ImageStore;
  /** Containers this process created, so their rootfs is known to be mounted (no mountinfo read at start). */
  private readonly mountedHere = new Set<string>();

  constructor(private readonly options: ContainerManagerOptions = {}) {
    this.root = stateRoot(options.root);
    this.store = new ContainerStore(this.root);
    this.volumes = new VolumeStore(this.root, () => this.store.list());
    this.runtime = new Runtime({ root: path.join(this.root, 'runtime'), onWarning: options.onWarning, onTrace: options.onTrace });
  }

  get images(): ImageStore {
    return (this.imageStore ??= new ImageStore(this.root));
  }

  private warn(message: string): void {
    this.options.onWarning?.(message);
  }

  // ------------------------------------------------------------------ create

  /** docker create: the record, the writable layer, /etc files and volumes; no process yet. */
  async create(opts: CreateContainerOptions): Promise<ContainerRecord> {
    // Everything that can be wrong with the flags is found before anything is made.
    const requests: MountRequest[] = [
      ...(opts.volumes ?? []).map(parseVolumeFlag),
      ...(opts.mounts ?? []).map(parseMountFlag),
      ...(opts.tmpfs ?? []).map(parseTmpfsFlag),
    ];
    const targets = new Set<string>();
    for (const r of requests) {
      if (targets.has(r.target)) throw usageError(`Duplicate mount point: ${r.target}`);
      targets.add(r.target);
      if (r.type === 'bind' && !fs.existsSync(r.source)) {
        throw usageError(`invalid mount config for type "bind": bind source path does not exist: ${r.source}`);
      }
    }
    const envFromFiles = (opts.envFiles ?? []).flatMap((f) => parseEnvFile(f));
    const envFromFlags = parseEnvFlags(opts.env ?? []);
    const labels = parseLabels(opts.labels ?? []);
    const stopSignal = opts.stopSignal ? normalizeSignal(opts.stopSignal) : undefined;
    const network = opts.network ?? 'none';
    if (!['none', 'host', 'default', 'bridge'].includes(network)) {
      throw usageError(`network ${network} not found (hull supports --network none|host)`);
    }
    if (opts.workdir !== undefined && opts.workdir !== '' && !opts.workdir.startsWith('/')) {
      throw usageError(`the working directory '${opts.workdir}' is invalid, it needs to be an absolute path`);
    }
    if (opts.hostname !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(opts.hostname)) {
      throw usageError(`invalid hostname format: ${opts.hostname}`);
    }
    const name = opts.name !== undefined ? validateContainerName(opts.name) : undefined;
    const securityOpts = opts.securityOpt ?? [];
    let seccomp: 'default' | 'unconfined' | Seccomp = 'default';
    let noNewPrivileges = false;
    for (const s of securityOpts) {
      if (s === 'no-new-privileges' || s === 'no-new-privileges:true' || s === 'no-new-privileges=true') noNewPrivileges = true;
      else if (s === 'seccomp=unconfined' || s === 'seccomp:unconfined') seccomp = 'unconfined';
      else if (/^seccomp[=:]./.test(s)) {
        // A profile file, resolved for the capabilities the container will hold.
        const caps = effectiveCapabilities(opts.privileged ?? false, opts.capAdd ?? [], opts.capDrop ?? [], boundingCapabilities());
        seccomp = loadSeccompProfile(s.slice('seccomp='.length), caps);
      }
      else if (s.startsWith('label') || s.startsWith('apparmor')) continue;
      else throw usageError(`invalid --security-opt: ${s}`);
    }
    const logConfig = parseLogOpts(opts.logOpts ?? []);
    const limits = parseLimitFlags({ ...opts.limits, memory: opts.memory }, { network: network === 'host' ? 'host' : 'none' });
    checkUlimitsAgainstHost(limits.ulimits);
    const devices = limits.devices.map((d) => resolveDevice(d));
    const memory = limits.memory ?? 0;
    const usernsMode = parseUsernsMode(opts.userns);
    if (usernsMode === 'remap' && opts.privileged) throw usageError('privileged mode is incompatible with user namespace remapping (--userns remap)');
    const remap = usernsMode === 'remap' ? remapRanges() : undefined;

    const image = await this.resolveImage(opts.image, opts.pull ?? 'missing');
    const imageConfig: ContainerConfig = this.images.configOf(image).config ?? {};

    const id = ContainerStore.newId();
    const dir = this.store.containerDir(id);
    // The directory exists before the name is claimed: a name whose owner has no directory is stale.
    this.store.ensureDirs();
    fs.mkdirSync(dir, { recursive: false, mode: 0o711 });
    fs.writeFileSync(path.join(dir, CREATING_FILE), String(process.pid));
    let finalName: string;
    try {
      finalName = this.claimName(name, id);
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const createdVolumes: string[] = [];
    try {
      const rootfs = path.join(dir, 'rootfs');
      // A remapped root owns its init layer (shifted below); every other container shares one.
      const initDir = remap ? path.join(dir, 'init') : sharedInitLayer(this.store.dir);
      for (const d of [rootfs, path.join(dir, 'layer', 'upper'), path.join(dir, 'layer', 'work')]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
      if (remap) makeInitLayer(initDir);
      const lowers = this.images.imageLowerDirs(image);
      if (remap) {
        // Root inside is remap.uid.start outside: its own dirs are owned by the range (image
        // layers are idmapped by mountRemappedRootfs)...
        // ...and it must be able to walk to its rootfs (search permission only, as docker's 0701 root).
        for (const d of [this.root, path.dirname(dir)]) fs.chmodSync(d, fs.statSync(d).mode & 0o7777 | 0o011);
        shiftOwners(initDir, remap);
        shiftOwners(path.join(dir, 'layer'), remap);
      }
      let layers = [initDir, ...lowers];
      // --rm: the writable layer is never kept, so it needs no syncing (see MountRootfsOptions.volatile).
      const volatile = opts.autoRemove === true;
      const rootfsOpts = { layers, upper: path.join(dir, 'layer', 'upper'), work: path.join(dir, 'layer', 'work'), target: rootfs, volatile };
      if (remap) layers = mountRemappedRootfs(this.root, dir, rootfsOpts, remap, (m) => this.warn(m));
      else mountRootfs(rootfsOpts);

      const tty = opts.tty ?? false;
      const hostname = opts.hostname || id.slice(0, 12);
      const userSpec = opts.user ?? imageConfig.User ?? '';
      const user = resolveUser(rootfs, userSpec);
      const cwd = opts.workdir || imageConfig.WorkingDir || '/';
      const args = resolveArgs(imageConfig, opts.entrypoint, opts.command ?? []);
      const imageEnv = imageConfig.Env ?? [];
      const env = mergeEnv(
        [DEFAULT_PATH, `HOSTNAME=${hostname}`],
        imageEnv,
        tty ? ['TERM=xterm'] : [],
        envFromFiles,
        envFromFlags,
        imageEnv.some((e) => e.startsWith('HOME=')) || [...envFromFiles, ...envFromFlags].some((e) => e.startsWith('HOME=')) ? [] : [`HOME=${user.home}`],
      );
      // docker creates a missing working directory (owned by root, in the writable layer).
      if (cwd !== '/') withRootFd(rootfs, (fd) => native().mkdirInRoot(fd, cwd.slice(1), 0o755));

      writeEtcFiles(dir, hostname, network);
      const etcMounts: Mount[] = ETC_FILES.map((f) => ({
        destination: `/etc/${f}`,
        type: 'bind',
        source: path.join(dir, f),
        options: ['rbind', 'rprivate'],
      }));

      // Anonymous volumes for the image's VOLUMEs that no flag covers.
      for (const target of Object.keys(imageConfig.Volumes ?? {})) {
        const clean = containerPath(target, 'image volume');
        if (!targets.has(clean)) requests.push({ type: 'volume', target: clean, readonly: false, nocopy: false });
      }
      const { mounts, points } = requests.length
        ? await this.volumes.withLock(() => this.prepareMounts(requests, rootfs, createdVolumes))
        : { mounts: [], points: [] };
      if (remap) {
        // A new volume belongs to the container's root; its content came from the shifted image.
        for (const p of points) {
          if (p.Type !== 'volume') continue;
          if (p.Name && createdVolumes.includes(p.Name)) shiftOwners(p.Source, remap);
          for (const d of [path.dirname(path.dirname(p.Source)), path.dirname(p.Source)]) fs.chmodSync(d, fs.statSync(d).mode & 0o7777 | 0o011);
        }
      }

      const now = new Date().toISOString();
      const spec = buildContainerSpec({
        rootfs,
        args,
        env,
        cwd,
        user,
        tty,
        hostname,
        readonlyRootfs: opts.readOnly ?? false,
        network: network === 'host' ? 'host' : 'none',
        privileged: opts.privileged ?? false,
        capAdd: opts.capAdd ?? [],
        capDrop: opts.capDrop ?? [],
        noNewPrivileges,
        seccomp,
        mounts: [...etcMounts, ...mounts],
        cgroupsPath: `/hull/${id}`,
        availableCapabilities: boundingCapabilities(),
      });
      applyLimits(spec, limits, devices);
      if (remap) applyUserns(spec, remap.uid, remap.gid);
      const record: ContainerRecord = {
        Id: id,
        Name: `/${finalName}`,
        Created: now,
        Image: image.id,
        Path: args[0],
        Args: args.slice(1),
        Config: {
          Hostname: hostname,
          User: userSpec,
          Env: env,
          Cmd: opts.command?.length ? opts.command : opts.entrypoint !== undefined ? null : imageConfig.Cmd ?? null,
          Entrypoint: opts.entrypoint !== undefined ? (opts.entrypoint ? [opts.entrypoint] : null) : imageConfig.Entrypoint ?? null,
          WorkingDir: cwd,
          Labels: { ...(imageConfig.Labels ?? {}), ...labels },
          StopSignal: stopSignal ?? (imageConfig.StopSignal ? normalizeSignal(imageConfig.StopSignal) : 'SIGTERM'),
          ...(opts.stopTimeout !== undefined ? { StopTimeout: opts.stopTimeout } : {}),
          Tty: tty,
          OpenStdin: opts.interactive ?? false,
          AttachStdin: opts.interactive ?? false,
          Volumes: imageConfig.Volumes ?? null,
          Image: opts.image,
        },
        HostConfig: {
          AutoRemove: opts.autoRemove ?? false,
          Binds: opts.volumes ?? [],
          Tmpfs: Object.fromEntries(requests.filter((r) => r.type === 'tmpfs').map((r) => [r.target, (r as { options: string[] }).options.join(',')])),
          ReadonlyRootfs: opts.readOnly ?? false,
          NetworkMode: network === 'host' ? 'host' : 'none',
          Privileged: opts.privileged ?? false,
          CapAdd: opts.capAdd ?? [],
          CapDrop: opts.capDrop ?? [],
          SecurityOpt: securityOpts,
          LogConfig: logConfig,
          Memory: memory,
          MemorySwap: limits.memorySwap ?? 0,
          MemoryReservation: limits.memoryReservation ?? 0,
          NanoCpus: limits.nanoCpus ?? 0,
          CpuShares: limits.cpuShares ?? 0,
          CpusetCpus: limits.cpusetCpus ?? '',
          PidsLimit: limits.pidsLimit ?? null,
          Ulimits: limits.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
          OomScoreAdj: limits.oomScoreAdj ?? 0,
          Sysctls: limits.sysctls,
          UsernsMode: usernsMode === 'remap' ? 'remap' : '',
          Devices: limits.devices.map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.permissions })),
        },
        Mounts: points,
        State: {
          Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0,
          ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME,
        },
        LogPath: path.join(dir, `${id}-json.log`),
        RestartCount: 0,
        Layers: layers,
        Spec: spec,
      };
      this.store.write(record);
      unlinkIfPresent(path.join(dir, CREATING_FILE));
      this.mountedHere.add(id);
      return record;
    } catch (err) {
      await this.destroyLeftovers(id, finalName, createdVolumes);
      throw err;
    }
  }

  private claimName(name: string | undefined, id: string): string {
    if (name !== undefined) {
      try {
        this.store.claimName(name, id);
      } catch (err) {
        // The holder may be a create that was killed half-way: clean it up and try once more.
        const owner = this.store.nameOwner(name);
        if (!owner || owner === id || !this.store.isAbandoned(owner)) throw err;
        this.removeAbandoned(owner);
        this.store.claimName(name, id);
      }
      return name;
    }
    for (;;) {
      const candidate = generateName((n) => this.store.nameOwner(n) !== undefined);
      try {
        this.store.claimName(candidate, id);
        return candidate;
      } catch (err) {
        if (!(err instanceof ContainerCliError)) throw err;
      }
    }
  }

  /** What a killed create left: its mount, directory and name. */
  private removeAbandoned(id: string): void {
    const dir = this.store.containerDir(id);
    try {
      unmountRootfs(path.join(dir, 'rootfs'));
    } catch (err) {
      this.warn(`unmount ${dir}/rootfs: ${(err as Error).message}`);
    }
    for (const n of this.store.namesOf(id)) this.store.releaseName(n, id);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  /** Undo a half-made create: nothing of it may stay behind. */
  private async destroyLeftovers(id: string, name: string, createdVolumes: string[]): Promise<void> {
    const dir = this.store.containerDir(id);
    try {
      unmountRootfs(path.join(dir, 'rootfs'));
    } catch (err) {
      this.warn(`unmount ${dir}/rootfs: ${(err as Error).message}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    this.store.releaseName(name, id);
    if (createdVolumes.length) {
      await this.volumes.withLock(() => {
        for (const v of createdVolumes) this.volumes.removeUnlocked(v, { force: true });
      });
    }
  }

  private async resolveImage(name: string, pull: 'missing' | 'always' | 'never'): Promise<ImageRecord> {
    let image: ImageRecord | null = null;
    try {
      if (pull !== 'always') image = this.images.findImage(name);
    } catch (err) {
      throw usageError((err as Error).message);
    }
    if (image) return image;
    if (pull === 'never') throw usageError(`No such image: ${name}`);
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { pullImage } = require('../image/pull') as typeof import('../image/pull');
      return await pullImage(this.images, name);
    } catch (err) {
      throw usageError(`Unable to find image '${name}' locally: pull failed: ${(err as Error).message}`);
    }
  }

  /** Volume, bind and tmpfs requests → OCI mounts (host sources) and inspect's mount points. */
  private prepareMounts(requests: MountRequest[], rootfs: string, createdVolumes: string[]): { mounts: Mount[]; points: MountPoint[] } {
    const mounts: Mount[] = [];
    const points: MountPoint[] = [];
    for (const r of requests) {
      if (r.type === 'bind') {
        const propagation = r.propagation ?? 'rprivate';
        mounts.push({ destination: r.target, type: 'bind', source: r.source, options: ['rbind', propagation, r.readonly ? 'ro' : 'rw'] });
        points.push({ Type: 'bind', Source: r.source, Destination: r.target, Mode: r.readonly ? 'ro' : '', RW: !r.readonly, Propagation: propagation });
      } else if (r.type === 'tmpfs') {
        const options = ['nosuid', 'nodev', 'noexec', ...r.options];
        mounts.push({ destination: r.target, type: 'tmpfs', source: 'tmpfs', options });
        points.push({ Type: 'tmpfs', Source: '', Destination: r.target, Mode: '', RW: !r.options.includes('ro'), Propagation: '', Options: r.options });
      } else {
        const { volume, created } = this.volumes.createUnlocked(r.source, { anonymous: r.source === undefined });
        if (created) createdVolumes.push(volume.Name);
        // First use: the volume starts with what the image has at that path (docker's copy-up).
        if (!r.nocopy && !volume.Populated) {
          copyImageContent(rootfs, r.target, volume.Mountpoint);
          this.volumes.markPopulated(volume.Name);
        }
        mounts.push({ destination: r.target, type: 'bind', source: volume.Mountpoint, options: ['rbind', 'rprivate', r.readonly ? 'ro' : 'rw'] });
        points.push({
          Type: 'volume', Name: volume.Name, Source: volume.Mountpoint, Destination: r.target, Driver: 'local',
          Mode: r.readonly ? 'ro' : 'z', RW: !r.readonly, Propagation: '', ...(r.source === undefined ? { Anonymous: true } : {}),
        });
      }
    }
    return { mounts, points };
  }

  // ------------------------------------------------------------------ lookup and state

  /** The record, reconciled with the runtime (a stopped container is recorded as exited). */
  async get(nameOrId: string, exitCode = 1): Promise<ContainerRecord> {
    const id = this.store.resolve(nameOrId, exitCode);
    return this.refresh(id);
  }

  /** Bring the record in line with the runtime; reap a container that ended while nobody watched. */
  async refresh(id: string): Promise<ContainerRecord> {
    const rec = this.store.read(id);
    if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') return rec;
    let status: string;
    try {
      status = this.runtime.state(id).status;
    } catch {
      status = 'gone';
    }
    if (status === 'running' || status === 'created') {
      if (rec.State.Paused) return this.store.update(id, (r) => Object.assign(r.State, { Status: 'running', Paused: false }));
      return rec;
    }
    if (status === 'paused') {
      if (!rec.State.Paused) return this.store.update(id, (r) => Object.assign(r.State, { Status: 'paused', Paused: true }));
      return rec;
    }
    return this.recordExit(id);
  }

  /** The container's process is gone: take the exit from the monitor's exit.json, clean the runtime state. */
  private async recordExit(id: string, known?: { exitCode: number; oomKilled?: boolean }): Promise<ContainerRecord> {
    const exit = known ? undefined : await this.awaitExitFile(id);
    // Under the container's lock: a `run -d --rm` container's exit command, a `rm -f` and any other
    // command that found it exited may all get here at once (one cleans the runtime, one removes).
    const unlock = await this.lockContainer(id).catch(() => {
      throw new NoSuchContainerError(id);
    });
    let rec: ContainerRecord;
    try {
      rec = this.store.read(id);
      if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') return rec; // recorded meanwhile
      try {
        await this.runtime.delete(id, { force: true });
      } catch (err) {
        if (!/does not exist/.test((err as Error).message)) this.warn(`cleanup of ${id.slice(0, 12)}: ${(err as Error).message}`);
      }
      const code = known?.exitCode ?? (exit ? (exit.signal ? 128 + exit.signal : exit.exitCode) : 255);
      Object.assign(rec.State, {
        Status: 'exited', Running: false, Paused: false, Pid: 0, ExitCode: code,
        OOMKilled: exit?.oomKilled ?? known?.oomKilled ?? false,
        FinishedAt: exit?.finishedAt ?? new Date().toISOString(),
        Error: exit || known ? '' : 'container monitor died: exit status unknown',
      });
      this.store.write(rec); // the lock is ours already (store.update would wait for it)
    } finally {
      unlock();
    }
    // Foreground runs remove their own container; this is for detached --rm ones found exited.
    if (rec.HostConfig.AutoRemove && !known) await this.remove(id, { volumes: true, missingOk: true }).catch(() => undefined);
    return rec;
  }

  /**
   * The container directory's flock, held across async work (recording an exit, removal). Taken
   * with non-blocking tries: a blocking flock would stall the event loop, and with it another
   * holder in this same process.
   */
  private async lockContainer(id: string): Promise<() => void> {
    const fd = fs.openSync(this.store.containerDir(id), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const { flock } = native();
      for (let i = 0; !flock(fd, 'ex', true); i++) await sleep(i < 50 ? 2 : 20);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return () => fs.closeSync(fd); // closing the last fd releases the lock
  }

  /**
   * `hull container cleanup ID`: the exit command the monitor of an auto-remove (`--rm`) container
   * runs once the container has exited. Records the exit and removes the container; quiet when
   * the lazy path, `rm -f` or a foreground `start -a` got there first, and leaves a container
   * that runs again alone.
   */
  async cleanup(nameOrId: string): Promise<void> {
    let id: string;
    try {
      id = this.store.resolve(nameOrId);
    } catch (err) {
      if (err instanceof NoSuchContainerError) return;
      throw err;
    }
    let rec: ContainerRecord;
    try {
      rec = await this.refresh(id); // a recorded exit removes an auto-remove container already
    } catch (err) {
      if (!this.store.tryRead(id)) return;
      throw err;
    }
    if (!rec.HostConfig.AutoRemove || rec.State.Status === 'running' || rec.State.Status === 'paused') return;
    await this.remove(id, { volumes: true, missingOk: true });
  }

  /** argv of the monitor's exit command for an auto-remove container (undefined: left to the lazy path). */
  private cleanupCommand(id: string): string[] | undefined {
    const cli = hullCliPath();
    return cli ? [process.execPath, cli, '--root', this.root, 'container', 'cleanup', id] : undefined;
  }

  /**
   * The monitor writes exit.json right after the container's init is reaped: while the monitor
   * still lives, wait for it (bounded) rather than report an unknown exit status.
   */
  private async awaitExitFile(id: string): Promise<{ exitCode: number; signal: number; finishedAt: string; oomKilled: boolean } | undefined> {
    let monitorPid = 0;
    try {
      monitorPid = this.runtime.record(id).monitorPid;
    } catch {
      return undefined;
    }
    for (let i = 0; i < 500; i++) {
      const exit = this.runtime.store.readExit(id);
      if (exit) return exit;
      if (!monitorPid || !processAlive(monitorPid)) return this.runtime.store.readExit(id);
      await sleep(10);
    }
    return undefined;
  }

  async list(opts: { all?: boolean } = {}): Promise<ContainerSummary[]> {
    const out: ContainerSummary[] = [];
    for (const id of this.store.listDirs()) {
      if (this.store.isAbandoned(id)) {
        this.removeAbandoned(id);
        continue;
      }
      let rec: ContainerRecord;
      try {
        rec = await this.refresh(id);
      } catch {
        continue; // half-made or removed meanwhile
      }
      if (!this.store.tryRead(id)) continue; // auto-removed by refresh
      if (!opts.all && rec.State.Status !== 'running' && rec.State.Status !== 'paused') continue;
      out.push(summarize(rec));
    }
    return out.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  // ------------------------------------------------------------------ start / run

  /**
   * Start a created or exited container. Detached (default): the monitor keeps it running and
   * writes its output to the log; resolves with 0. `attach`: resolves with the exit code.
   */
  async start(nameOrId: string, opts: StartOptions = {}): Promise<number> {
    return this.startRecord(await this.get(nameOrId), nameOrId, opts);
  }

  /** start() of a record in hand (run: the one create has just written, no need to read it back). */
  private async startRecord(rec: ContainerRecord, nameOrId: string, opts: StartOptions): Promise<number> {
    if (rec.State.Status === 'running' || rec.State.Status === 'paused') {
      // docker: `start -a` of a running container attaches to it (hull: to its terminal).
      if (opts.attach && rec.Config.Tty && !opts.stdio) return this.attachRecord(rec, { stdin: opts.interactive ?? false });
      if (opts.attach) throw new ContainerStateError(`container ${nameOrId} is already running`);
      return 0;
    }
    const id = rec.Id;
    // Leftover runtime state from a previous run (reaped already, but a crash may leave it); a
    // container this process has just created has none, and its rootfs is mounted.
    if (!this.mountedHere.delete(id)) {
      await this.runtime.delete(id, { force: true }).catch(() => undefined);
      this.ensureRootfs(rec);
    }
    const spec: Spec = rec.Spec;
    const dir = this.store.containerDir(id);
    const markRunning = (pid: number) =>
      this.store.update(id, (r) => {
        Object.assign(r.State, {
          Status: 'running', Running: true, Paused: false, Pid: pid, ExitCode: 0, Error: '', OOMKilled: false,
          StartedAt: new Date().toISOString(), FinishedAt: ZERO_TIME,
        });
      });
    if (!opts.attach) {
      // The monitor owns the output: docker json-file lines in LogPath, rotated as --log-opt says.
      // With -t it keeps the pty master itself and logs what the terminal shows (as stdout).
      const cfg = rec.HostConfig.LogConfig.Config;
      const logFile = { path: rec.LogPath, maxSize: cfg['max-size'] ? parseSize(cfg['max-size']) : 0, maxFiles: Number(cfg['max-file'] ?? 1) };
      try {
        // --rm: the monitor runs `hull container cleanup` as soon as the container exits (as
        // conmon's exit command), instead of waiting for the next hull command to notice.
        const exitCommand = rec.HostConfig.AutoRemove ? this.cleanupCommand(id) : undefined;
        // `hull attach` clients come in through this socket: the monitor relays the pty it keeps
        // (-t) or the output pipes it logs, and with -i (no -t) feeds their input to the stdin pipe.
        const attachSocket = path.join(this.runtime.store.dir(id), ATTACH_SOCKET);
        const attachStdin = rec.Config.OpenStdin && !spec.process?.terminal;
        await this.runtime.run({ id, bundle: dir, spec, detach: true, stdio: ['ignore', 'ignore', 'ignore'], logFile, exitCommand, attachSocket, attachStdin });
      } catch (err) {
        throw this.startFailure(id, err);
      }
      const pid = this.runtime.state(id).pid;
      markRunning(pid);
      return 0;
    }
    const interactive = opts.interactive ?? rec.Config.OpenStdin;
    const tty = spec.process?.terminal ? new ConsoleRelay(interactive) : undefined;
    if (tty) spec.process!.consoleSize = callerTerminalSize();
    // A kept container logs its foreground output too; a --rm one needs no log (and runs faster).
    const tee = !tty && !opts.stdio && !rec.HostConfig.AutoRemove ? new OutputTee(rec.LogPath, () => native().socketpair('stream')) : undefined;
    const stdin = interactive ? 'inherit' : 'ignore';
    const stdio: Stdio = tty ? ['ignore', 'ignore', 'inherit'] : tee ? [stdin, ...tee.containerFds] : opts.stdio ?? [stdin, 'inherit', 'inherit'];
    let code: number;
    try {
      code = await this.runtime.run({
        id,
        bundle: dir,
        spec,
        detach: false,
        keep: true,
        stdio,
        consoleSocket: tty?.socketPath,
        onStarted: (pid) => {
          tee?.releaseContainerEnds();
          markRunning(pid);
          opts.onStarted?.(pid);
        },
      });
    } catch (err) {
      throw this.startFailure(id, err);
    } finally {
      await tty?.finish();
      await tee?.finish();
    }
    // The monitor's exit.json (kept: `keep: true`) says whether the OOM killer ended it.
    await this.recordExit(id, { exitCode: code, oomKilled: this.runtime.store.readExit(id)?.oomKilled ?? false });
    // --rm: gone once it has ended, whether `run` or `start -a` ran it (as docker).
    if (rec.HostConfig.AutoRemove) await this.remove(id, { force: true, volumes: true, missingOk: true });
    return code;
  }

  /**
   * docker attach, to a detached container through its monitor's attach socket: with -t its
   * terminal (our stdin, unless `stdin: false`, in raw mode; window size passed on); without, its
   * stdout and stderr to ours, and our stdin to its stdin if it was started with -i. Resolves
   * with the container's exit code when it ends; the detach keys (ctrl-p ctrl-q) leave it running
   * and reject with docker's "read escape sequence" (exit code 1).
   */
  async attach(nameOrId: string, opts: { stdin?: boolean; detachKeys?: string } = {}): Promise<number> {
    const rec = await this.get(nameOrId);
    if (rec.State.Status === 'paused') throw new ContainerStateError('You cannot attach to a paused container, unpause it first');
    if (rec.State.Status !== 'running') throw new ContainerStateError('You cannot attach to a stopped container, start it first');
    return this.attachRecord(rec, opts);
  }

  private async attachRecord(rec: ContainerRecord, opts: { stdin?: boolean; detachKeys?: string }): Promise<number> {
    const detachKeys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
    const socket = path.join(this.runtime.store.dir(rec.Id), ATTACH_SOCKET);
    let how: 'ended' | 'detached';
    try {
      how = await attachToSocket(socket, {
        input: opts.stdin === false ? undefined : process.stdin,
        output: process.stdout,
        // No terminal: stdout and stderr come framed and stay apart, as docker's CLI writes them.
        errorOutput: rec.Config.Tty ? undefined : process.stderr,
        detachKeys,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        // Ended meanwhile, or started by a hull without attach sockets.
        const now = await this.refresh(rec.Id).catch(() => undefined);
        if (!now || (now.State.Status !== 'running' && now.State.Status !== 'paused')) throw new ContainerStateError('You cannot attach to a stopped container, start it first');
        throw new ContainerCliError(`cannot attach to ${rec.Id.slice(0, 12)}: its monitor has no attach socket (started by an older hull)`);
      }
      throw err;
    }
    // docker's CLI ends an attach left with the detach keys as an error: "read escape sequence", 1.
    if (how === 'detached') throw new ContainerCliError('read escape sequence', 1);
    // The monitor wrote exit.json before our connection closed (unless it dropped a slow reader).
    const exit = this.runtime.store.readExit(rec.Id);
    if (exit) return exit.signal ? 128 + exit.signal : exit.exitCode;
    return this.wait(rec.Id);
  }

  /** docker's exit codes for a process that could not be started: 127 not found, 126 not invocable. */
  private startFailure(id: string, err: unknown): Error {
    const e = err as HullRuntimeError;
    let exitCode = 125;
    let message = e.message ?? String(err);
    if (e instanceof HullRuntimeError && (e.op === 'exec' || e.op === 'arg' || e.op === 'cwd')) {
      // The helper's message already reads like docker's: `exec: "x": executable file not found in $PATH`.
      message = `failed to create task for container: ${message}`;
      if (e.op !== 'cwd' && e.code === 'ENOENT') exitCode = 127;
      else if (e.op !== 'cwd' && ['EACCES', 'ENOEXEC', 'EISDIR', 'EPERM'].includes(e.code ?? '')) exitCode = 126;
    }
    try {
      this.store.update(id, (r) => Object.assign(r.State, { Status: 'created', Running: false, Pid: 0, ExitCode: exitCode, Error: message }));
    } catch {
      /* removed meanwhile */
    }
    return new ContainerCliError(message, exitCode);
  }

  /** The overlay is mounted from create until rm; after a reboot (or a crash) it is mounted again. */
  private ensureRootfs(rec: ContainerRecord): void {
    const dir = this.store.containerDir(rec.Id);
    const rootfs = path.join(dir, 'rootfs');
    if (isMountPoint(rootfs)) return;
    const volatile = rec.HostConfig.AutoRemove;
    const opts = { layers: rec.Layers, upper: path.join(dir, 'layer', 'upper'), work: path.join(dir, 'layer', 'work'), target: rootfs, volatile };
    // A --rm container mounted before a reboot: its layer is disposable, let it be mounted again.
    if (volatile) clearVolatileMark(opts.work);
    const ranges = rec.HostConfig.UsernsMode === 'remap' ? specRanges(rec.Spec) : undefined;
    if (ranges) mountIdmappedRootfs(opts, ranges, (l) => needsIdmap(this.root, dir, l));
    else mountRootfs(opts);
  }

  /** create + start, as `docker run`. Foreground resolves with the exit code; `-d` with 0. */
  async run(opts: CreateContainerOptions & { detach?: boolean; stdio?: Stdio; onCreated?: (rec: ContainerRecord) => void; onStarted?: (pid: number) => void }): Promise<{ record: ContainerRecord; exitCode: number }> {
    const record = await this.create(opts);
    opts.onCreated?.(record);
    try {
      const exitCode = await this.startRecord(record, record.Id, { attach: !opts.detach, stdio: opts.stdio, onStarted: opts.onStarted });
      return { record, exitCode };
    } catch (err) {
      if (opts.autoRemove) await this.remove(record.Id, { force: true, volumes: true }).catch(() => undefined);
      throw err;
    }
  }

  // ------------------------------------------------------------------ signals

  async kill(nameOrId: string, signal = 'SIGKILL'): Promise<ContainerRecord> {
    const sig = normalizeSignal(signal);
    const rec = await this.get(nameOrId);
    if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') {
      throw new ContainerStateError(`Cannot kill container: ${nameOrId}: container ${rec.Id} is not running`);
    }
    await this.runtime.kill(rec.Id, sig).catch((err) => {
      throw new ContainerStateError(`Cannot kill container: ${nameOrId}: ${(err as Error).message}`);
    });
    if (sig === 'SIGKILL' && rec.State.Paused) await this.runtime.resume(rec.Id).catch(() => undefined);
    return rec;
  }

  /** The stop signal, then SIGKILL after the timeout (seconds; default the container's, else 10). */
  async stop(nameOrId: string, opts: { timeout?: number; signal?: string } = {}): Promise<ContainerRecord> {
    let rec = await this.get(nameOrId);
    if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') return rec;
    const timeout = opts.timeout ?? rec.Config.StopTimeout ?? 10;
    const signal = opts.signal ? normalizeSignal(opts.signal) : rec.Config.StopSignal || 'SIGTERM';
    if (rec.State.Paused) await this.runtime.resume(rec.Id).catch(() => undefined);
    if (timeout !== 0) await this.runtime.kill(rec.Id, signal).catch(() => undefined);
    const stopped = timeout < 0 ? await this.waitStopped(rec.Id) : await this.waitStopped(rec.Id, timeout * 1000);
    if (!stopped) {
      await this.runtime.kill(rec.Id, 'SIGKILL', { all: true }).catch(() => undefined);
      await this.waitStopped(rec.Id);
    }
    rec = await this.refresh(rec.Id).catch(() => rec);
    return rec;
  }

  /** Polls until the container's process is gone (true) or the timeout passes (false). */
  private async waitStopped(id: string, timeoutMs = Infinity): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; ; i++) {
      let status: string;
      try {
        status = this.runtime.state(id).status;
      } catch {
        return true;
      }
      if (status === 'stopped') return true;
      if (Date.now() >= deadline) return false;
      await sleep(i < 20 ? 10 : 50);
    }
  }

  /** docker wait: blocks until the container is not running, returns its exit code. */
  async wait(nameOrId: string): Promise<number> {
    const id = this.store.resolve(nameOrId);
    // A `run -d --rm` container is removed by its monitor's exit command right after it exits:
    // its code is taken from the monitor's exit.json as soon as the process is gone.
    let exitSeen: number | undefined;
    for (let i = 0; ; i++) {
      const rec = this.store.tryRead(id);
      if (!rec) {
        if (exitSeen !== undefined) return exitSeen;
        throw new NoSuchContainerError(nameOrId);
      }
      if (rec.State.Status === 'running' || rec.State.Status === 'paused') {
        if (rec.HostConfig.AutoRemove) {
          // exit.json lives until the exit command's runtime delete: watch it closely (10 ms)
          // rather than the process, so the code is seen before the record is gone.
          for (let t = 0; t < 100 && exitSeen === undefined && this.store.tryRead(id); t++) {
            const exit = this.runtime.store.readExit(id);
            if (exit) exitSeen = exit.signal ? 128 + exit.signal : exit.exitCode;
            else await sleep(10);
          }
          if (exitSeen !== undefined) return exitSeen; // over: the record may still be removed
          if (!this.store.tryRead(id)) continue;
        } else if (await this.waitStopped(id, 1000)) {
          const exit = this.runtime.store.readExit(id);
          if (exit) exitSeen = exit.signal ? 128 + exit.signal : exit.exitCode;
        }
        // The foreground CLI records the exit itself; give it a moment before reaping.
        const after = this.store.tryRead(id);
        if (after && (after.State.Status === 'running' || after.State.Status === 'paused') && (await this.waitStopped(id, 0))) {
          await sleep(50);
          const latest = await this.refresh(id).catch(() => undefined);
          if (latest && latest.State.Status !== 'running' && latest.State.Status !== 'paused') return latest.State.ExitCode;
        }
        continue;
      }
      return rec.State.ExitCode;
    }
  }

  async pause(nameOrId: string): Promise<void> {
    const rec = await this.get(nameOrId);
    if (rec.State.Status === 'paused') throw new ContainerStateError(`Container ${rec.Id} is already paused`);
    if (rec.State.Status !== 'running') throw new ContainerStateError(`Container ${rec.Id} is not running`);
    await this.runtime.pause(rec.Id);
    this.store.update(rec.Id, (r) => Object.assign(r.State, { Status: 'paused', Paused: true }));
  }

  async unpause(nameOrId: string): Promise<void> {
    const rec = await this.get(nameOrId);
    if (rec.State.Status !== 'paused') throw new ContainerStateError(`Container ${rec.Id} is not paused`);
    await this.runtime.resume(rec.Id);
    this.store.update(rec.Id, (r) => Object.assign(r.State, { Status: 'running', Paused: false }));
  }

  async restart(nameOrId: string, opts: { timeout?: number } = {}): Promise<void> {
    const rec = await this.stop(nameOrId, opts);
    this.store.update(rec.Id, (r) => {
      r.RestartCount += 1;
    });
    await this.start(rec.Id);
  }

  // ------------------------------------------------------------------ remove

  /** docker rm: refuses a running container unless forced; `volumes` removes its anonymous volumes. */
  async remove(nameOrId: string, opts: { force?: boolean; volumes?: boolean; missingOk?: boolean } = {}): Promise<void> {
    let id: string;
    try {
      id = this.store.resolve(nameOrId);
    } catch (err) {
      if (opts.missingOk && err instanceof NoSuchContainerError) return;
      throw err;
    }
    // Under the container's lock, so an auto-remove's exit command, the lazy path and `rm -f`
    // take it apart once: whoever comes second finds no record.
    let unlock: () => void;
    try {
      unlock = await this.lockContainer(id);
    } catch {
      if (opts.missingOk) return;
      throw new NoSuchContainerError(nameOrId);
    }
    try {
      const rec = this.store.tryRead(id);
      if (!rec) {
        if (opts.missingOk) return;
        throw new NoSuchContainerError(nameOrId);
      }
      await this.removeLocked(id, rec, opts);
    } finally {
      unlock();
    }
  }

  private async removeLocked(id: string, rec: ContainerRecord, opts: { force?: boolean; volumes?: boolean }): Promise<void> {
    let live = false;
    try {
      const s = this.runtime.state(id).status;
      live = s !== 'stopped';
    } catch {
      live = false;
    }
    if (live && !opts.force) {
      const state = rec.State.Paused ? 'paused' : 'running';
      throw new ContainerStateError(
        `cannot remove container "${rec.Name}": container is ${state}: stop the container before removing or force remove`,
      );
    }
    await this.runtime.delete(id, { force: true }).catch((err) => {
      if (!/does not exist/.test((err as Error).message)) throw err;
    });
    const dir = this.store.containerDir(id);
    // Mark it gone first (the record's removal makes lookups fail), then take the rest apart.
    unlinkIfPresent(path.join(dir, 'container.json'));
    this.store.releaseName(rec.Name.replace(/^\//, ''), id);
    unmountRootfs(path.join(dir, 'rootfs'));
    removeContainerDir(dir);
    if (opts.volumes && rec.Mounts.some((m) => m.Type === 'volume' && m.Anonymous)) {
      await this.volumes.withLock(() => {
        for (const m of rec.Mounts) {
          if (m.Type === 'volume' && m.Anonymous && m.Name) {
            try {
              this.volumes.removeUnlocked(m.Name, { force: true });
            } catch (err) {
              this.warn((err as Error).message);
            }
          }
        }
      });
    }
  }

  /** `container prune`: every stopped container. */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const c of await this.list({ all: true })) {
      if (c.status === 'running' || c.status === 'paused') continue;
      await this.remove(c.id).then(() => removed.push(c.id)).catch((err) => this.warn((err as Error).message));
    }
    // Directories of creates that died before writing their record.
    for (const id of this.store.listDirs()) if (this.store.isAbandoned(id)) this.removeAbandoned(id);
    return removed;
  }

  async rename(nameOrId: string, newName: string): Promise<void> {
    const name = validateContainerName(newName);
    const rec = await this.get(nameOrId);
    const old = rec.Name.replace(/^\//, '');
    if (old === name) throw usageError(`Renaming a container with the same name as its current name`);
    this.store.claimName(name, rec.Id);
    this.store.update(rec.Id, (r) => {
      r.Name = `/${name}`;
    });
    this.store.releaseName(old, rec.Id);
  }

  // ------------------------------------------------------------------ exec

  async exec(nameOrId: string, opts: ExecContainerOptions): Promise<number> {
    const rec = await this.get(nameOrId);
    // The issue asks for exit 125 here (docker itself exits 1).
    if (rec.State.Status === 'paused') throw new ContainerStateError(`Container ${rec.Id} is paused, unpause the container before exec`, 125);
    if (rec.State.Status !== 'running') throw new ContainerStateError(`Container ${rec.Id} is not running`, 125);
    if (!opts.command.length) throw usageError('exec needs a command');
    const base = rec.Spec.process!;
    let user = base.user;
    if (opts.user !== undefined) {
      const u = resolveUser(path.join(this.store.containerDir(rec.Id), 'rootfs'), opts.user);
      user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    }
    const caps = opts.privileged ? boundingCapabilities() : undefined;
    const process: Process = {
      ...structuredClone(base),
      terminal: opts.tty ?? false,
      user,
      args: opts.command,
      env: mergeEnv(base.env ?? [], opts.tty ? ['TERM=xterm'] : [], parseEnvFlags(opts.env ?? [])),
      cwd: opts.workdir || base.cwd,
      ...(caps ? { capabilities: { bounding: caps, effective: caps, permitted: caps } } : {}),
    };
    const tty = opts.tty && !opts.detach ? new ConsoleRelay(opts.interactive ?? false) : undefined;
    if (tty) process.consoleSize = callerTerminalSize();
    if (opts.tty && opts.detach) process.terminal = false;
    const stdio: Stdio = tty ? ['ignore', 'ignore', 'inherit'] : opts.stdio ?? [opts.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'];
    try {
      return await this.runtime.exec(rec.Id, process, { detach: opts.detach, stdio, onStarted: opts.onStarted, consoleSocket: tty?.socketPath });
    } catch (err) {
      const e = err as HullRuntimeError;
      if (e instanceof HullRuntimeError && (e.op === 'exec' || e.op === 'arg')) {
        if (e.code === 'ENOENT') throw new ContainerCliError(`exec failed: ${e.message}`, 127);
        if (e.code === 'EACCES' || e.code === 'ENOEXEC' || e.code === 'EISDIR') throw new ContainerCliError(`exec failed: ${e.message}`, 126);
      }
      if (e instanceof HullRuntimeError) throw new ContainerCliError(e.message, 126);
      throw err;
    } finally {
      await tty?.finish();
    }
  }

  /** docker update: new memory / cpu / pids limits for a running container (kept for later starts). */
  async update(nameOrId: string, resources: Resources): Promise<void> {
    const rec = await this.get(nameOrId);
    if (rec.State.Status === 'running' || rec.State.Status === 'paused') this.runtime.update(rec.Id, resources);
    this.store.update(rec.Id, (r) => {
      // inspect shows what the container now runs with (docker's HostConfig names).
      const hc = r.HostConfig;
      const m = resources.memory;
      const c = resources.cpu;
      if (m?.limit !== undefined) hc.Memory = Math.max(0, m.limit);
      if (m?.swap !== undefined) hc.MemorySwap = m.swap;
      if (m?.reservation !== undefined) hc.MemoryReservation = Math.max(0, m.reservation);
      if (c?.quota !== undefined && c.period) hc.NanoCpus = Math.round((c.quota / c.period) * 1e9);
      if (c?.shares !== undefined) hc.CpuShares = c.shares;
      if (c?.cpus !== undefined) hc.CpusetCpus = c.cpus;
      if (resources.pids) hc.PidsLimit = resources.pids.limit;
      const linux = (r.Spec.linux ??= {});
      const old = linux.resources ?? {};
      linux.resources = {
        ...old,
        ...(resources.memory ? { memory: { ...old.memory, ...resources.memory } } : {}),
        ...(resources.cpu ? { cpu: { ...old.cpu, ...resources.cpu } } : {}),
        ...(resources.pids ? { pids: resources.pids } : {}),
      };
    });
  }

  /** Usage figures of a running container (empty for a stopped one). */
  async stats(nameOrId: string): Promise<{ record: ContainerRecord; stats: CgroupStats }> {
    const rec = await this.get(nameOrId);
    if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') return { record: rec, stats: {} };
    return { record: rec, stats: this.runtime.stats(rec.Id) };
  }

  /** Processes in the container (host pids). */
  async processes(nameOrId: string): Promise<number[]> {
    const rec = await this.get(nameOrId);
    if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') throw new ContainerStateError(`Container ${rec.Id} is not running`);
    return this.runtime.ps(rec.Id);
  }

  /** Paths of the container's layers, for diff/commit/export/cp. */
  paths(rec: ContainerRecord): { dir: string; rootfs: string; upper: string; lowers: string[] } {
    const dir = this.store.containerDir(rec.Id);
    return { dir, rootfs: path.join(dir, 'rootfs'), upper: path.join(dir, 'layer', 'upper'), lowers: rec.Layers };
  }

  /** docker diff: changes in the writable layer. */
  async diff(nameOrId: string): Promise<Change[]> {
    const rec = await this.get(nameOrId);
    const p = this.paths(rec);
    return layerModule().diffLayer(p.upper, p.lowers);
  }

  /** docker commit: pauses a running container (unless `pause: false`) while its layer is read. */
  async commit(nameOrId: string, opts: CommitOptions & { pause?: boolean } = {}): Promise<ImageRecord> {
    const rec = await this.get(nameOrId);
    const p = this.paths(rec);
    return this.whilePaused(rec, opts.pause !== false, () => layerModule().commitLayer(this.images, rec, p.upper, p.dir, opts));
  }

  async export(nameOrId: string, out: Writable): Promise<void> {
    const rec = await this.get(nameOrId);
    await layerModule().exportRootfs(this.mountedRootfs(rec), out);
  }

  /** docker cp, either direction (`toContainer`); the container is paused meanwhile so it cannot swap paths. */
  async copy(nameOrId: string, direction: 'in' | 'out', containerPath: string, hostPath: string): Promise<void> {
    const rec = await this.get(nameOrId);
    const rootfs = this.mountedRootfs(rec);
    await this.whilePaused(rec, true, async () => {
      // Paths in volumes and binds are copied in their host directories (src/container/cp.ts).
      (require('./cp') as typeof import('./cp')).copyThroughMounts(rec.Mounts, rootfs, direction, containerPath, hostPath); // eslint-disable-line @typescript-eslint/no-require-imports
    });
  }

  private async whilePaused<T>(rec: ContainerRecord, pause: boolean, fn: () => Promise<T>): Promise<T> {
    const freeze = pause && rec.State.Status === 'running';
    if (freeze) await this.runtime.pause(rec.Id).catch(() => undefined);
    try {
      return await fn();
    } finally {
      if (freeze) await this.runtime.resume(rec.Id).catch(() => undefined);
    }
  }

  /** Mount the rootfs if needed (export, cp of a stopped container). */
  mountedRootfs(rec: ContainerRecord): string {
    this.ensureRootfs(rec);
    return path.join(this.store.containerDir(rec.Id), 'rootfs');
  }
}

// ------------------------------------------------------------------ helpers

/** The pty starts with the caller's window size (later resizes are not passed on yet). */
function callerTerminalSize(): { height: number; width: number } | undefined {
  const out = globalThis.process.stdout;
  return out.isTTY && out.rows && out.columns ? { height: out.rows, width: out.columns } : undefined;
}

/** bin/hull of this installation: the exit command runs it (from dist/, the bundle, or src/ in tests). */
function hullCliPath(): string | undefined {
  for (let dir = __dirname, i = 0; i < 3; i++, dir = path.dirname(dir)) {
    const cli = path.join(dir, 'bin', 'hull');
    if (fs.existsSync(cli)) return cli;
  }
  return undefined;
}

/** Loaded on demand: it pulls in tar and the image archive code, which `run` does not need. */
function layerModule(): typeof import('./layer') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./layer') as typeof import('./layer');
}

/** A live process (a zombie counts as gone: its exit is final). */
function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function parseLogOpts(list: string[]): ContainerRecord['HostConfig']['LogConfig'] {
  const config: { 'max-size'?: string; 'max-file'?: string } = {};
  for (const item of list) {
    const [key, value] = item.split('=', 2);
    if (key === 'max-size' && value && /^\d+[kmg]?$/i.test(value)) config['max-size'] = value;
    else if (key === 'max-file' && value && /^\d+$/.test(value) && Number(value) > 0) config['max-file'] = value;
    else throw usageError(`invalid --log-opt: ${item}`);
  }
  return { Type: 'json-file', Config: config };
}

/** Mount points hull provides, in a layer below the writable one (docker's "-init" layer). */
function makeInitLayer(dir: string): void {
  for (const d of ['etc', 'proc', 'sys', 'dev', 'dev/pts', 'dev/shm']) fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
  for (const f of ETC_FILES) fs.writeFileSync(path.join(dir, 'etc', f), '', { mode: 0o755 });
}

/** The shared init layer's directory under <root>/containers; a new layout gets a new name. */
const SHARED_INIT_LAYER = '.init-layer-1';

/**
 * The init layer containers without a user namespace share: identical for all of them and never
 * written (it is a read-only lower layer), so it is made once per state root instead of made and
 * removed with every container. Made in a temp directory, fsynced, then renamed into place: a
 * container never mounts a half-made one, even after a crash.
 */
function sharedInitLayer(containersDir: string): string {
  const dir = path.join(containersDir, SHARED_INIT_LAYER);
  if (fs.existsSync(dir)) return dir;
  const tmp = `${dir}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { mode: 0o755 });
  makeInitLayer(tmp);
  for (const d of ['etc', 'dev', '.']) fsyncPath(path.join(tmp, d));
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(dir)) throw err; // else another process made it first
  }
  fsyncPath(containersDir);
  return dir;
}

/** unlink(2), ENOENT being success (fs.rmSync of one file goes through its recursive machinery). */
function unlinkIfPresent(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Removes a container's directory. Its layout is known (store.ts): one unlink or rmdir per entry,
 * instead of Node's recursive walk (an lstat, and a failed rmdir then a readdir per directory).
 * What else is there (the writable layer's content, a log, a per-container init layer) is left
 * to the walk, which the final rmdir falls back to.
 */
function removeContainerDir(dir: string): void {
  // layer/work/work/incompat/volatile/dirty: overlay's mark of a volatile mount (run --rm).
  const files = [...ETC_FILES, 'container.json', CREATING_FILE, `${path.basename(dir)}-json.log`, 'layer/work/work/incompat/volatile/dirty'];
  for (const f of files) {
    try {
      fs.unlinkSync(path.join(dir, f));
    } catch {
      /* absent, or left to the walk */
    }
  }
  const dirs = ['rootfs', 'layer/work/work/incompat/volatile', 'layer/work/work/incompat', 'layer/work/work', 'layer/work', 'layer/upper', 'layer'];
  for (const d of dirs) {
    try {
      fs.rmdirSync(path.join(dir, d));
    } catch {
      /* not empty (the container wrote files), or absent: left to the walk */
    }
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function writeEtcFiles(dir: string, hostname: string, network: string): void {
  fs.writeFileSync(path.join(dir, 'hostname'), `${hostname}\n`, { mode: 0o644 });
  const hosts = network === 'host'
    ? readOr('/etc/hosts', '127.0.0.1\tlocalhost\n')
    : '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n' +
      `127.0.1.1\t${hostname}\n`;
  fs.writeFileSync(path.join(dir, 'hosts'), hosts, { mode: 0o644 });
  let resolv = readOr('/etc/resolv.conf', '');
  if (network !== 'host') {
    // Loopback resolvers of the host are unreachable from the container's own network namespace.
    resolv = resolv.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l)).join('\n');
    if (!/^\s*nameserver/m.test(resolv)) resolv += '\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n';
  }
  fs.writeFileSync(path.join(dir, 'resolv.conf'), resolv, { mode: 0o644 });
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Copy what the image has at `target` into an empty volume (docker copies on first use). The
 * source is opened in-root, so a symlinked path in the image cannot point the copy at the host.
 */
function copyImageContent(rootfs: string, target: string, volumeDir: string): void {
  withRootFd(rootfs, (rootFd) => {
    let fd: number;
    try {
      fd = native().openInRoot(rootFd, target.slice(1), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, 0);
    } catch {
      return; // nothing there (or not a directory): the volume starts empty
    }
    try {
      if (fs.readdirSync(volumeDir).length) return;
      const st = fs.fstatSync(fd);
      const r = spawnSync('cp', ['-a', '--', `/proc/${process.pid}/fd/${fd}/.`, volumeDir], { encoding: 'utf8' });
      if (r.status !== 0) throw new ContainerCliError(`copy image content of ${target} into volume: ${r.stderr.trim()}`);
      fs.chownSync(volumeDir, st.uid, st.gid);
      fs.chmodSync(volumeDir, st.mode & 0o7777);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** docker's "Up 3 minutes" / "Exited (0) 5 seconds ago". */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.floor(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.floor(m / 60);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  const d = Math.floor(h / 24);
  return `${d} days`;
}

export function statusText(rec: ContainerRecord, now = Date.now()): string {
  const st = rec.State;
  switch (st.Status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(st.StartedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(st.StartedAt))} (Paused)`;
    case 'exited':
      return `Exited (${st.ExitCode}) ${humanDuration(now - Date.parse(st.FinishedAt))} ago`;
    case 'created':
      return 'Created';
    default:
      return st.Status;
  }
}

export function summarize(rec: ContainerRecord): ContainerSummary {
  return {
    id: rec.Id,
    name: rec.Name.replace(/^\//, ''),
    image: rec.Config.Image,
    imageId: rec.Image,
    command: [rec.Path, ...rec.Args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' '),
    created: rec.Created,
    status: rec.State.Status,
    statusText: statusText(rec),
    exitCode: rec.State.ExitCode,
    labels: rec.Config.Labels,
    mounts: rec.Mounts.map((m) => m.Name ?? m.Source),
    pid: rec.State.Pid,
  };
}

export { readFileInRoot };
