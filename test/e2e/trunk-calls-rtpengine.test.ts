// The trunk-call tests again, with media.engine: rtpengine against a real rtpengine
// (Debian's rtpengine-daemon, userspace forwarding) that the suite starts.
process.env['PBX_TEST_MEDIA_ENGINE'] = 'rtpengine';
await import('./trunk-calls.test.ts');
