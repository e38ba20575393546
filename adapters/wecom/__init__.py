"""The WeCom (企业微信) edge: 智能机器人 in API mode over its long connection, one per tenant."""
