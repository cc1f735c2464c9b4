// A simulated player: no video, but the playback a real one does against the
// API. It takes a stream slot (StartPlayback), keeps it alive with heartbeats,
// records views with the position reached (RecordView needs the slot), and
// gives the slot back when it stops. So continue watching and the
// recommendations change as it plays.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import { asApiError, type ApiError } from "../api/errors";
import type { components } from "../api/schema";
import { ErrorMessage, Loading } from "../components";
import { useFocusOnMount, useLoad, uuid4 } from "../hooks";
import { allows } from "../ratings";
import { href } from "../router";
import { current, type Profile } from "../session";

type Title = components["schemas"]["v1Title"];
type Playback = components["schemas"]["v1Playback"];

// Simulated seconds per real second: a 90-minute film plays in 90 seconds.
const SPEED = 60;
const TICK_MS = 1000;
// Progress is recorded every this many real seconds while playing.
const RECORD_EVERY_TICKS = 3;
const SKIP_SECONDS = 10 * 60;
const EPISODE_SECONDS = 45 * 60;

function durationOf(title: Title): number {
  return title.durationMinutes ? title.durationMinutes * 60 : EPISODE_SECONDS;
}

function clock(seconds: number): string {
  const whole = Math.floor(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60)
    .toString()
    .padStart(hours ? 2 : 1, "0");
  const rest = (whole % 60).toString().padStart(2, "0");
  return hours ? `${hours}:${minutes}:${rest}` : `${minutes}:${rest}`;
}

function Player({ profile, title }: { profile: Profile; title: Title }) {
  const duration = durationOf(title);
  const [playback, setPlayback] = useState<Playback | null>(null);
  const [position, setPosition] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState<number | null>(null);
  const state = useRef({ position: 0, playback: null as Playback | null, ticks: 0 });
  state.current.position = position;
  state.current.playback = playback;
  const playButton = useRef<HTMLButtonElement>(null);

  const record = async (at: number) => {
    try {
      await api.post("/v1/profiles/{profileId}/views", {
        path: { profileId: profile.profileId ?? "" },
        body: {
          viewId: uuid4(),
          titleId: title.titleId ?? "",
          positionSeconds: Math.round(at),
          durationSeconds: duration,
          deviceType: "web",
          countryCode: current().session?.countryCode || undefined,
        },
      });
      setSaved(at);
    } catch (failure) {
      setError(asApiError(failure));
      setPlaying(false);
    }
  };

  const start = async () => {
    setError(null);
    if (!state.current.playback) {
      try {
        const slot = await api.post("/v1/profiles/{profileId}/playback", {
          path: { profileId: profile.profileId ?? "" },
          body: { titleId: title.titleId },
        });
        setPlayback(slot);
        state.current.playback = slot;
      } catch (failure) {
        setError(asApiError(failure));
        return;
      }
    }
    setPlaying(true);
  };

  const pause = async () => {
    setPlaying(false);
    await record(state.current.position);
  };

  // The clock: advances the position and records it every few ticks.
  useEffect(() => {
    if (!playing) return;
    const timer = setInterval(() => {
      const next = Math.min(duration, state.current.position + SPEED);
      setPosition(next);
      state.current.ticks += 1;
      if (next >= duration) {
        setPlaying(false);
        void record(next);
      } else if (state.current.ticks % RECORD_EVERY_TICKS === 0) {
        void record(next);
      }
    }, TICK_MS);
    return () => clearInterval(timer);
  }, [playing]);

  // Heartbeats keep the stream slot while the player is open.
  useEffect(() => {
    if (!playback?.playbackId) return;
    const every = Math.max(1, playback.heartbeatIntervalSeconds ?? 30) * 1000;
    const timer = setInterval(() => {
      api
        .post("/v1/playbacks/{playbackId}:heartbeat", {
          path: { playbackId: playback.playbackId ?? "" },
          body: {},
        })
        .catch((failure: unknown) => {
          setError(asApiError(failure));
          setPlaying(false);
          setPlayback(null);
        });
    }, every);
    return () => clearInterval(timer);
  }, [playback?.playbackId]);

  // Leaving the player gives the slot back (after recording where it stopped).
  useEffect(
    () => () => {
      const slot = state.current.playback;
      if (!slot?.playbackId) return;
      const id = slot.playbackId;
      const stop = () => api.delete("/v1/playbacks/{playbackId}", { path: { playbackId: id } });
      (state.current.position > 0 ? record(state.current.position) : Promise.resolve())
        .finally(() => stop().catch(() => undefined));
    },
    [],
  );

  const skip = () => {
    const next = Math.min(duration, position + SKIP_SECONDS);
    setPosition(next);
    if (playback) void record(next);
  };
  const percent = Math.round((100 * position) / duration);
  return (
    <section class="player" aria-label={`Player: ${title.title}`}>
      <div class="screen" aria-hidden="true">
        {title.artwork?.posterUrl && <img src={title.artwork.posterUrl} alt="" />}
        <span class="screen-state">{playing ? "▶" : "❚❚"}</span>
      </div>
      <div class="controls">
        {playing ? (
          <button type="button" ref={playButton} onClick={pause}>
            Pause
          </button>
        ) : (
          <button type="button" ref={playButton} onClick={start} disabled={position >= duration}>
            {position > 0 ? "Resume" : "Play"}
          </button>
        )}
        <button type="button" class="secondary" onClick={skip} disabled={!playback || position >= duration}>
          Skip 10 min
        </button>
        <label for="position" class="visually-hidden">
          Position
        </label>
        <progress id="position" max={duration} value={position} aria-valuetext={`${clock(position)} of ${clock(duration)}`}>
          {percent}%
        </progress>
        <span class="time">
          {clock(position)} / {clock(duration)}
        </span>
      </div>
      <p class="player-status" role="status">
        {position >= duration
          ? "Finished."
          : saved !== null
            ? `Progress saved at ${clock(saved)}.`
            : playback
              ? "Playing on this device."
              : "Not started."}
      </p>
      <ErrorMessage error={error} />
    </section>
  );
}

export function WatchScreen({ profile, titleId }: { profile: Profile; titleId: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const title = useLoad(
    (signal) => api.get("/v1/titles/{titleId}", { path: { titleId }, signal }),
    [titleId],
  );
  return (
    <main id="main" class="watch">
      <h1 tabIndex={-1} ref={heading}>
        {title.data && allows(profile.maturityRating, title.data.maturityRating)
          ? `Watching ${title.data.title}`
          : "Watch"}
      </h1>
      <ErrorMessage error={title.error} onRetry={title.reload} />
      {title.loading && !title.data && <Loading what="the title" />}
      {title.data &&
        (allows(profile.maturityRating, title.data.maturityRating) ? (
          <Player profile={profile} title={title.data} />
        ) : (
          <p>This title is above {profile.profileName}'s maturity limit.</p>
        ))}
      <p>
        <a href={href(`title/${titleId}`)}>Back to the title</a> · <a href={href("home")}>Home</a>
      </p>
    </main>
  );
}
