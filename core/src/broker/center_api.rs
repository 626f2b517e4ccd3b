//! External watchers (other protocols) and the center (service) API.

use super::*;

impl Broker {
    // ---------------------------------------------------------------- external watchers

    /// Registers a watcher served by another protocol (XMPP); its notifications come out as
    /// [`BrokerEvent::Presence`].
    pub fn external_watcher(&mut self) -> WatcherId {
        let w = self.next_watcher;
        self.next_watcher += 1;
        self.external.insert(w);
        w
    }

    /// Subscribes an external watcher under the access rules of the presentity.
    pub fn external_subscribe(&mut self, watcher: WatcherId, who: &Principal, p: &Presentity) -> Result<crate::monitor::presence::PresenceDocument, BrokerError> {
        if !self.external.contains(&watcher) {
            return Err(err(ErrorCode::NotFound, "unknown watcher"));
        }
        let doc = self.monitor.subscribe(watcher, who, p)?;
        Ok(doc)
    }

    /// Ends one subscription of an external watcher.
    pub fn external_unsubscribe(&mut self, watcher: WatcherId, p: &Presentity) {
        self.monitor.unsubscribe(watcher, p);
    }

    /// Forgets an external watcher and all its subscriptions.
    pub fn external_drop(&mut self, watcher: WatcherId, presentities: &[Presentity]) {
        for p in presentities {
            self.monitor.unsubscribe(watcher, p);
        }
        self.external.remove(&watcher);
    }

    /// Publishes the status of a client connected through another protocol.
    pub fn publish_client_status(&mut self, now: Timestamp, client: ClientId, status: ClientStatus) {
        self.tick(now);
        self.monitor.publish_client_status(now, client, status);
        self.pump();
    }

    /// Replaces the access rules of a principal's own presentity.
    pub fn set_access_rules(&mut self, who: &Principal, p: &Presentity, rules: Vec<crate::monitor::access::AccessRule>) -> Result<(), BrokerError> {
        self.monitor.set_access_rules(who, p, rules)?;
        self.dirty_rules.insert(p.clone());
        self.pump();
        Ok(())
    }

    /// Agents logged in now (for rosters).
    pub fn agents(&self) -> Vec<crate::status::AgentSummary> {
        self.monitor.center_status().agents
    }

    // ---------------------------------------------------------------- center (service) API

    /// Feeds an event from an external center (a vendor's ACD bridge) into the status monitor.
    pub fn center_event(&mut self, now: Timestamp, event: CenterEvent) -> Result<(), BrokerError> {
        self.tick(now);
        self.monitor.handle_center_event(now, event)?;
        self.pump();
        Ok(())
    }

    /// Adds or replaces a product.
    pub fn center_put_product(&mut self, product: Product) -> Result<(), BrokerError> {
        self.store.put_product(&product)?;
        self.pump();
        Ok(())
    }

    /// Adds or replaces a history record (imported from the center's CRM).
    pub fn center_put_record(&mut self, record: InteractionRecord) -> Result<(), BrokerError> {
        self.store.put_record(&record)?;
        self.push_event(&record.client.clone(), &Event::HistoryChanged(record), None, None);
        self.pump();
        Ok(())
    }

    /// Adds or replaces an order; the client is told.
    pub fn center_put_order(&mut self, order: Order) -> Result<(), BrokerError> {
        self.store.put_order(&order)?;
        self.push_event(&order.client.clone(), &Event::OrderChanged(order), None, None);
        self.pump();
        Ok(())
    }

    /// Moves an order to a new status, recording it in the order's history; the client is told.
    pub fn center_set_order_status(&mut self, now: Timestamp, order: &OrderId, status: OrderStatus) -> Result<Order, BrokerError> {
        self.tick(now);
        let mut o = self.store.order(order)?.ok_or_else(|| err(ErrorCode::NotFound, format!("no order {order}")))?;
        o.status = status;
        o.history.push(StatusChange { at: now, status });
        o.revision += 1;
        self.store.put_order(&o)?;
        self.push_event(&o.client.clone(), &Event::OrderChanged(o.clone()), None, None);
        self.pump();
        Ok(o)
    }

    /// Seeds a client's profile (from the center's CRM).
    pub fn center_put_profile(&mut self, client: &ClientId, profile: ClientProfile) -> Result<(), BrokerError> {
        self.store.put_profile(client, &profile)?;
        self.pump();
        Ok(())
    }

    /// Hold-time key of a live interaction, for hosts that show per-interaction figures.
    pub fn interaction_queue(&self, id: &InteractionId) -> Option<QueueKey> {
        let l = self.live.get(id)?;
        Some(QueueKey { queue: l.li.queue.clone()?, medium: l.li.medium })
    }

    /// A live interaction by id.
    pub fn interaction(&self, id: &InteractionId) -> Option<&LiveInteraction> {
        self.live.get(id).map(|l| &l.li)
    }
}

impl Broker {
    /// A website's visitor was identified as a known client (the site vouched for the user id): the
    /// visitor's past interactions and orders become the client's, and its profile too when the
    /// client has none yet. Live interactions stay with the visitor until they end. Answers how many
    /// records and orders moved.
    pub fn adopt_visitor(&mut self, now: Timestamp, visitor: &ClientId, client: &ClientId) -> Result<usize, BrokerError> {
        self.tick(now);
        if visitor == client {
            return Ok(0);
        }
        let mut moved = 0;
        for mut r in self.store.history(visitor, &crate::records::HistoryFilter::default())? {
            if self.live.contains_key(&r.id) {
                continue;
            }
            r.client = client.clone();
            self.store.put_record(&r)?;
            self.push_event(client, &Event::HistoryChanged(r), None, None);
            moved += 1;
        }
        for mut o in self.store.orders(visitor)? {
            o.client = client.clone();
            self.store.put_order(&o)?;
            self.push_event(client, &Event::OrderChanged(o), None, None);
            moved += 1;
        }
        if self.store.profile(client)?.is_none() {
            if let Some(p) = self.store.profile(visitor)? {
                self.store.put_profile(client, &p)?;
                self.push_event(client, &Event::ProfileChanged(p), None, None);
            }
        }
        self.pump();
        Ok(moved)
    }
}
