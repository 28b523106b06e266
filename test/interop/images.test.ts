// The shared test images are real images: skopeo reads both formats, and they round-trip through
// a local registry (also the check that test/setup/registry.ts works, with and without auth).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testImages, type TestImages } from '../setup/images';
import { describeRun, describeWithPeers, run } from '../setup/peers';
import { startRegistry, type Registry } from '../setup/registry';

function skopeo(args: string[]) {
  const r = run('skopeo', args, { timeoutMs: 120_000 });
  expect(r.status, describeRun('skopeo', args, r)).toBe(0);
  return r.stdout;
}

describeWithPeers(['skopeo'], 'test images', () => {
  let images: TestImages;
  beforeAll(async () => {
    images = await testImages();
  });

  it('skopeo inspects the OCI layout', () => {
    const info = JSON.parse(skopeo(['inspect', `oci:${images.ociLayout}:${images.ociTag}`]));
    expect(info.Os).toBe('linux');
    expect(info.Layers).toHaveLength(1);
    expect(info.Env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const config = JSON.parse(skopeo(['inspect', '--config', `oci:${images.ociLayout}:${images.ociTag}`]));
    expect(config.config.Cmd).toEqual(['sh']);
    expect(config.rootfs.diff_ids).toHaveLength(1);
  });

  it('skopeo inspects the docker archive', () => {
    const info = JSON.parse(skopeo(['inspect', `docker-archive:${images.dockerArchive}`]));
    expect(info.Os).toBe('linux');
    expect(info.Layers).toHaveLength(1);
    // Same content in both formats: the config (hence the image id) is identical.
    const a = JSON.parse(skopeo(['inspect', '--config', `docker-archive:${images.dockerArchive}`]));
    const b = JSON.parse(skopeo(['inspect', '--config', `oci:${images.ociLayout}:${images.ociTag}`]));
    expect(a.rootfs.diff_ids).toEqual(b.rootfs.diff_ids);
  });
});

describeWithPeers(['skopeo', 'registry'], 'local registry', () => {
  let images: TestImages;
  let reg: Registry | undefined;
  beforeAll(async () => {
    images = await testImages();
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('accepts a push of the OCI layout and serves it back', () => {
    const ref = `docker://${reg!.host}/hull/test:v1`;
    skopeo(['copy', '--dest-tls-verify=false', `oci:${images.ociLayout}:${images.ociTag}`, ref]);
    const info = JSON.parse(skopeo(['inspect', '--tls-verify=false', ref]));
    expect(info.Name).toBe(`${reg!.host}/hull/test`);
    expect(info.RepoTags).toEqual(['v1']);
  });
});

describeWithPeers(['skopeo', 'registry', 'htpasswd'], 'local registry with htpasswd auth', () => {
  let images: TestImages;
  let reg: Registry | undefined;
  beforeAll(async () => {
    images = await testImages();
    reg = await startRegistry({ auth: { username: 'hull', password: 'secret-pw' } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('rejects anonymous pushes and accepts authenticated ones', async () => {
    const res = await fetch(`${reg!.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="hull-test"/);

    const ref = `docker://${reg!.host}/hull/private:v1`;
    const src = `docker-archive:${images.dockerArchive}`;
    const anon = run('skopeo', ['copy', '--dest-tls-verify=false', src, ref], { timeoutMs: 120_000 });
    expect(anon.status).not.toBe(0);
    expect(anon.stderr).toMatch(/unauthorized|authentication required/i);
    skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'hull:secret-pw', src, ref]);
    const info = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--creds', 'hull:secret-pw', ref]));
    expect(info.RepoTags).toEqual(['v1']);
  });
});
