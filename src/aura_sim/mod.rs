//! A stateful simulator of AURA's API. (Interface only; the implementation lands from its branch.)

use std::net::SocketAddr;

pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    pub jwt_secret: String,
    pub signup_base_url: Option<url::Url>,
}

#[derive(Clone)]
pub struct Simulator {}

pub struct SimHandle {
    pub addr: SocketAddr,
    pub base_url: url::Url,
}

impl SimHandle {
    pub fn shutdown(self) {}
}

impl Simulator {
    pub fn new(_cfg: SimConfig) -> Self {
        Self {}
    }

    pub async fn spawn(&self, _bind: SocketAddr) -> anyhow::Result<SimHandle> {
        unimplemented!()
    }
}

pub async fn run_standalone(_bind: SocketAddr, _cfg: SimConfig) -> anyhow::Result<()> {
    unimplemented!()
}
