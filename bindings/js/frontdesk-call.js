
const SETUP_MS = 60_000;
const RESTART_MS = 15_000;

/** A voice or video call of one interaction over a Client's or an Agent's session: WebRTC with perfect
 *  negotiation, trickle ICE, an ICE restart when the connection drops, mute, camera and device choice. */
export class Call {
  /** A call for `interaction` over `party`'s signalling; `video` adds the camera, `polite` (the customer)
   *  yields on offer collisions, makes the first offer and restarts ICE; `iceTransportPolicy: 'relay'`
   *  sends media only through TURN (hiding both parties' addresses from each other); `devices`
   *  (`{audio, video}` device ids) picks the microphone and camera; `onchange(call)` after every change. Call `start()`. */
  constructor(party, interaction, { video = false, polite = false, iceTransportPolicy = 'all', devices = {}, onchange } = {}) {
    Object.assign(this, { party, id: interaction, video, polite, iceTransportPolicy, onchange });
    /** The chosen microphone and camera (`deviceId`s; absent: the browser's default). */
    this.devices = { ...devices };
    /** `new`, `media` (asking for devices), `connecting`, `connected`, `reconnecting`, `ended`. */
    this.state = 'new';
    this.muted = false;
    this.camera = video;
    this.peer = { muted: false, camera: video };
    this.local = null;
    this.remote = new MediaStream();
    this.pc = null;
    this.setupMs = null;
    this.connectedAt = null;
    this.ended = null;
    this._q = new Promise((ok) => { this._go = ok; });
    this._sig = ({ interaction: i, signal: s }) => {
      if (i !== this.id) return;
      if (s.kind === 'hang_up') return this._close('remote', s.reason || 'normal');
      if (s.kind === 'media') { this.peer = { muted: s.muted, camera: s.camera }; return this._set(); }
      this._q = this._q.then(() => this._signal(s)).catch((e) => this._warn(e));
    };
    party.on('signal', this._sig);
  }

  /** Asks for the microphone (and camera), then connects; a refusal hangs up with `media_refused`. */
  async start() {
    this._set('media');
    try {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: this._want('audio'), video: this.video && this._want('video') });
    } catch (e) {
      this.error = e;
      return this.hangUp('media_refused');
    }
    const iceServers = await this.party.iceServers(this.id).catch(() => []);
    if (this.ended) return this._stop();
    const pc = (this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: this.iceTransportPolicy === 'relay' ? 'relay' : 'all' }));
    pc.ontrack = ({ track }) => { this.remote.addTrack(track); this._set(); };
    pc.onicecandidate = ({ candidate: c }) => this._send(c
      ? { kind: 'candidate', candidate: c.candidate, sdp_mid: c.sdpMid ?? undefined, sdp_mline_index: c.sdpMLineIndex ?? undefined }
      : { kind: 'end_of_candidates' });
    pc.onnegotiationneeded = async () => {
      try {
        this._making = true;
        await pc.setLocalDescription();
        this._offerAt ??= performance.now();
        this._send({ kind: 'offer', sdp: pc.localDescription.sdp, restart: !!this._restarting });
      } catch (e) { this._warn(e); } finally { this._making = false; }
    };
    pc.oniceconnectionstatechange = () => this._ice();
    pc.onsignalingstatechange = () => { if (pc.signalingState === 'stable' && this._restarting) this._ice(); };
    if (this.polite) this._tracks();
    this._set('connecting');
    this._deadline(SETUP_MS);
    this._go();
  }

  /** Mutes or unmutes the microphone: while muted the sender carries no track, so no audio leaves. */
  setMuted(muted) {
    this.muted = !!muted;
    this._apply();
    this._media();
  }

  /** Turns the camera off (released, its light goes out) or on again (asks for it anew). */
  async setCamera(on) {
    if (!this.video || !this.local || this.ended || !!on === this.camera) return;
    if (on) {
      const [t] = (await navigator.mediaDevices.getUserMedia({ video: this._want('video') })).getVideoTracks();
      if (this.ended) return t.stop();
      this.local.addTrack(t);
    } else for (const t of this.local.getVideoTracks()) { t.stop(); this.local.removeTrack(t); }
    this.camera = !!on;
    this._apply();
    this._media();
  }

  /** The microphones and cameras there are (labelled once the call has its devices). */
  static async deviceList() {
    const all = await navigator.mediaDevices.enumerateDevices();
    return { audio: all.filter((d) => d.kind === 'audioinput'), video: all.filter((d) => d.kind === 'videoinput') };
  }

  /** Switches the microphone (`audio`) or camera (`video`) to a device from `deviceList()` mid-call:
   *  the new track replaces the old on the sender, so nothing is renegotiated. Rejects (and keeps the
   *  old device) when the new one cannot be opened. */
  async setDevice(kind, deviceId) {
    const old = this.devices[kind];
    this.devices[kind] = deviceId || undefined;
    if (!this.local || this.ended || (kind === 'video' && (!this.video || !this.camera))) return this._set();
    let t;
    try {
      [t] = (await navigator.mediaDevices.getUserMedia({ [kind]: this._want(kind) })).getTracks();
    } catch (e) { this.devices[kind] = old; throw e; }
    if (this.ended) return t.stop();
    const was = kind === 'audio' ? this.local.getAudioTracks() : this.local.getVideoTracks();
    this.local.addTrack(t);
    for (const x of was) { x.stop(); this.local.removeTrack(x); }
    this._apply();
    this._set();
  }

  /** Restarts ICE (done by itself on the polite side when the connection drops); the other side
   *  answers the new offer. */
  restart() {
    if (!this.pc || this.ended) return;
    this._restarting = true;
    this._set('reconnecting');
    this._deadline(RESTART_MS);
    this.pc.restartIce();
  }

  /** Hangs up: the other side is told, the interaction ends and its record says why (`reason`). */
  hangUp(reason = 'normal') {
    if (this.ended) return Promise.resolve();
    const sent = this.party.signal(this.id, { kind: 'hang_up', reason }).catch(() => {});
    this._close('local', reason);
    return sent;
  }

  /** Stops the media without signalling, for an interaction that already ended. */
  close() { this._close('remote', 'normal'); }

  async _signal(s) {
    const pc = this.pc;
    if (!pc || this.ended) return;
    if (s.kind === 'offer' || s.kind === 'answer') {
      const collision = s.kind === 'offer' && (this._making || pc.signalingState !== 'stable');
      this._ignore = !this.polite && collision;
      if (this._ignore) return;
      this._offerAt ??= performance.now();
      await pc.setRemoteDescription({ type: s.kind, sdp: s.sdp });
      if (s.kind === 'offer') {
        if (!this._senders) this._tracks();
        await pc.setLocalDescription();
        this._send({ kind: 'answer', sdp: pc.localDescription.sdp });
      }
    } else if (s.kind === 'candidate') {
      await pc.addIceCandidate({ candidate: s.candidate, sdpMid: s.sdp_mid, sdpMLineIndex: s.sdp_mline_index }).catch((e) => this._ignore || this._warn(e));
    }
  }

  _tracks() {
    this._senders = {};
    for (const t of this.local.getTracks()) this._senders[t.kind] = this.pc.addTrack(t, this.local);
    this._apply();
  }

  _apply() {
    const s = this._senders;
    if (!s || this.ended) return;
    s.audio?.replaceTrack(this.muted ? null : this.local.getAudioTracks()[0] ?? null).catch((e) => this._warn(e));
    s.video?.replaceTrack(this.camera ? this.local.getVideoTracks()[0] ?? null : null).catch((e) => this._warn(e));
  }

  _ice() {
    const s = this.pc.iceConnectionState;
    if (s === 'connected' || s === 'completed') {
      if (this.setupMs == null) this.setupMs = Math.round(performance.now() - this._offerAt);
      this.connectedAt ??= Date.now();
      this._restarting = false;
      clearTimeout(this._t);
      this._set('connected');
    } else if (s === 'failed' && this._restarting) this.hangUp('failed');
    else if ((s === 'disconnected' || s === 'failed') && !this._restarting && this.state !== 'reconnecting') {
      if (this.polite) this.restart();
      else { this._set('reconnecting'); this._deadline(RESTART_MS); }
    }
  }

  _want(kind) { return this.devices[kind] ? { deviceId: { exact: this.devices[kind] } } : true; }

  _deadline(ms) {
    clearTimeout(this._t);
    this._t = setTimeout(() => { if (this.state !== 'connected') this.hangUp('failed'); }, ms);
  }

  _media() { this._send({ kind: 'media', muted: this.muted, camera: this.camera }); this._set(); }

  _send(s) { if (!this.ended) this.party.signal(this.id, s).catch((e) => this.ended || this._warn(e)); }

  _warn(e) { this.lastError = e; console.warn('frontdesk call:', e); }

  _stop() { for (const t of this.local?.getTracks() ?? []) t.stop(); }

  _close(by, reason) {
    if (this.ended) return;
    this.ended = { by, reason };
    clearTimeout(this._t);
    this.party.off('signal', this._sig);
    this._stop();
    this.pc?.close();
    this._set('ended');
  }

  _set(state) {
    if (state) this.state = state;
    try { this.onchange?.(this); } catch (e) { this._warn(e); }
  }
}
