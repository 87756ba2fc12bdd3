//! The process-wide stop signal: SIGTERM (Kubernetes) or Ctrl-C (a developer).

/// Resolves when the process is asked to stop.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C, shutting down"),
        () = terminate => tracing::info!("received SIGTERM, shutting down"),
    }
}

/// One stop signal observed by many tasks (the gRPC server, the outbox relay, consumers):
/// every clone's [`Stop::wait`] resolves once the original future has.
#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// Spawns a task that waits for `signal` and then tells every clone.
    pub fn on(signal: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (tell, listen) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = tell.send(true);
        });
        Stop(listen)
    }

    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    /// Runs `pass` at once and then every `every` until stopped. A pass in progress finishes
    /// first (each background pass is written to be safe if cut, but a finished one leaves
    /// less for the next replica); a slow pass delays the next instead of bunching them.
    /// Every periodic task of every service (the sweepers) runs through here, so they all
    /// stop the same way.
    pub async fn every<F, Fut>(self, every: std::time::Duration, mut pass: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let stopped = self.wait();
        tokio::pin!(stopped);
        let mut ticker = tokio::time::interval(every.max(std::time::Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = &mut stopped => break,
                _ = ticker.tick() => pass().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::Stop;

    #[tokio::test]
    async fn a_periodic_task_runs_at_once_then_on_each_tick_and_stops_when_told() {
        let (tell, signal) = tokio::sync::oneshot::channel::<()>();
        let stop = Stop::on(async move {
            let _ = signal.await;
        });
        let passes = Arc::new(AtomicU32::new(0));
        let counted = passes.clone();
        let task = tokio::spawn(stop.every(Duration::from_millis(200), move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            1,
            "the first pass runs at once"
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(passes.load(Ordering::SeqCst) >= 2, "then once per tick");
        let _ = tell.send(());
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops promptly")
            .expect("no panic");
        let after_stop = passes.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            after_stop,
            "no pass after the stop"
        );
    }
}
