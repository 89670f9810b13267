//! A TCP proxy a test can take down (every connection cut, new ones
//! refused) and bring back: a database that goes away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A TCP proxy to PostgreSQL that a test can take down (every connection
/// cut, new ones refused) and bring back.
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    pub(crate) down: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (d, g) = (down.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue;
                }
                let born = g.load(Ordering::SeqCst);
                let g = g.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let cut = async {
                        while g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        () = cut => {}
                    }
                });
            }
        });
        Self {
            addr,
            down,
            generation,
        }
    }

    pub(crate) fn set_down(&self, down: bool) {
        use std::sync::atomic::Ordering;
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}
