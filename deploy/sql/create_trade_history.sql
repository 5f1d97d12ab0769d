-- generated from common/schema.py: python -m deploy.initdb --print trade_history
CREATE DATABASE IF NOT EXISTS `trade_history`;
USE `trade_history`;

CREATE TABLE IF NOT EXISTS `balance_history_example` (
  `id` BIGINT UNSIGNED NOT NULL PRIMARY KEY AUTO_INCREMENT,
  `time` DOUBLE NOT NULL,
  `user_id` INT UNSIGNED NOT NULL,
  `asset` VARCHAR(30) NOT NULL,
  `business` VARCHAR(30) NOT NULL,
  `change` DECIMAL(30,8) NOT NULL,
  `balance` DECIMAL(30,16) NOT NULL,
  `detail` TEXT NOT NULL,
  INDEX `idx_user_asset_business` (`user_id`, `asset`, `business`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `order_history_example` (
  `id` BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  `create_time` DOUBLE NOT NULL,
  `finish_time` DOUBLE NOT NULL,
  `user_id` INT UNSIGNED NOT NULL,
  `market` VARCHAR(30) NOT NULL,
  `source` VARCHAR(30) NOT NULL,
  `t` TINYINT UNSIGNED NOT NULL,
  `side` TINYINT UNSIGNED NOT NULL,
  `price` DECIMAL(30,8) NOT NULL,
  `amount` DECIMAL(30,8) NOT NULL,
  `taker_fee` DECIMAL(30,4) NOT NULL,
  `maker_fee` DECIMAL(30,4) NOT NULL,
  `deal_stock` DECIMAL(30,8) NOT NULL,
  `deal_money` DECIMAL(30,16) NOT NULL,
  `deal_fee` DECIMAL(30,16) NOT NULL,
  INDEX `idx_user_market` (`user_id`, `market`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `order_detail_example` (
  `id` BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  `create_time` DOUBLE NOT NULL,
  `finish_time` DOUBLE NOT NULL,
  `user_id` INT UNSIGNED NOT NULL,
  `market` VARCHAR(30) NOT NULL,
  `source` VARCHAR(30) NOT NULL,
  `t` TINYINT UNSIGNED NOT NULL,
  `side` TINYINT UNSIGNED NOT NULL,
  `price` DECIMAL(30,8) NOT NULL,
  `amount` DECIMAL(30,8) NOT NULL,
  `taker_fee` DECIMAL(30,4) NOT NULL,
  `maker_fee` DECIMAL(30,4) NOT NULL,
  `deal_stock` DECIMAL(30,8) NOT NULL,
  `deal_money` DECIMAL(30,16) NOT NULL,
  `deal_fee` DECIMAL(30,16) NOT NULL,
  INDEX `idx_user_market` (`user_id`, `market`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `deal_history_example` (
  `id` BIGINT UNSIGNED NOT NULL PRIMARY KEY AUTO_INCREMENT,
  `time` DOUBLE NOT NULL,
  `user_id` INT UNSIGNED NOT NULL,
  `deal_id` BIGINT UNSIGNED NOT NULL,
  `order_id` BIGINT UNSIGNED NOT NULL,
  `deal_order_id` BIGINT UNSIGNED NOT NULL,
  `role` TINYINT UNSIGNED NOT NULL,
  `price` DECIMAL(30,8) NOT NULL,
  `amount` DECIMAL(30,8) NOT NULL,
  `deal` DECIMAL(30,16) NOT NULL,
  `fee` DECIMAL(30,16) NOT NULL,
  `deal_fee` DECIMAL(30,16) NOT NULL,
  INDEX `idx_order_id` (`order_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `user_deal_history_example` (
  `id` BIGINT UNSIGNED NOT NULL PRIMARY KEY AUTO_INCREMENT,
  `time` DOUBLE NOT NULL,
  `user_id` INT UNSIGNED NOT NULL,
  `market` VARCHAR(30) NOT NULL,
  `deal_id` BIGINT UNSIGNED NOT NULL,
  `order_id` BIGINT UNSIGNED NOT NULL,
  `deal_order_id` BIGINT UNSIGNED NOT NULL,
  `side` TINYINT UNSIGNED NOT NULL,
  `role` TINYINT UNSIGNED NOT NULL,
  `price` DECIMAL(30,8) NOT NULL,
  `amount` DECIMAL(30,8) NOT NULL,
  `deal` DECIMAL(30,16) NOT NULL,
  `fee` DECIMAL(30,16) NOT NULL,
  `deal_fee` DECIMAL(30,16) NOT NULL,
  INDEX `idx_user_market` (`user_id`, `market`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `stop_history_example` (
  `id` BIGINT UNSIGNED NOT NULL PRIMARY KEY AUTO_INCREMENT,
  `order_id` BIGINT UNSIGNED NOT NULL,
  `create_time` DOUBLE NOT NULL,
  `finish_time` DOUBLE NOT NULL,
  `user_id` INT UNSIGNED NOT NULL,
  `market` VARCHAR(30) NOT NULL,
  `source` VARCHAR(30) NOT NULL,
  `client_id` VARCHAR(32) NOT NULL,
  `option` INT UNSIGNED NOT NULL,
  `t` TINYINT UNSIGNED NOT NULL,
  `side` TINYINT UNSIGNED NOT NULL,
  `stop_price` DECIMAL(30,8) NOT NULL,
  `price` DECIMAL(30,8) NOT NULL,
  `amount` DECIMAL(30,8) NOT NULL,
  `taker_fee` DECIMAL(30,4) NOT NULL,
  `maker_fee` DECIMAL(30,4) NOT NULL,
  `status` TINYINT UNSIGNED NOT NULL,
  INDEX `idx_user_market` (`user_id`, `market`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `history_position` (
  `id` INT UNSIGNED NOT NULL PRIMARY KEY,
  `oper_id` BIGINT UNSIGNED NOT NULL,
  `time` DOUBLE NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `balance_history_0` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_1` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_2` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_3` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_4` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_5` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_6` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_7` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_8` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_9` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_10` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_11` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_12` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_13` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_14` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_15` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_16` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_17` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_18` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_19` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_20` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_21` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_22` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_23` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_24` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_25` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_26` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_27` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_28` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_29` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_30` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_31` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_32` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_33` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_34` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_35` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_36` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_37` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_38` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_39` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_40` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_41` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_42` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_43` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_44` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_45` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_46` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_47` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_48` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_49` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_50` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_51` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_52` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_53` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_54` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_55` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_56` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_57` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_58` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_59` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_60` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_61` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_62` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_63` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_64` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_65` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_66` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_67` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_68` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_69` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_70` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_71` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_72` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_73` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_74` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_75` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_76` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_77` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_78` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_79` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_80` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_81` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_82` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_83` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_84` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_85` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_86` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_87` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_88` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_89` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_90` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_91` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_92` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_93` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_94` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_95` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_96` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_97` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_98` LIKE `balance_history_example`;
CREATE TABLE IF NOT EXISTS `balance_history_99` LIKE `balance_history_example`;

CREATE TABLE IF NOT EXISTS `order_history_0` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_1` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_2` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_3` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_4` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_5` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_6` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_7` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_8` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_9` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_10` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_11` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_12` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_13` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_14` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_15` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_16` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_17` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_18` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_19` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_20` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_21` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_22` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_23` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_24` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_25` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_26` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_27` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_28` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_29` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_30` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_31` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_32` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_33` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_34` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_35` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_36` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_37` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_38` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_39` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_40` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_41` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_42` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_43` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_44` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_45` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_46` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_47` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_48` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_49` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_50` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_51` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_52` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_53` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_54` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_55` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_56` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_57` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_58` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_59` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_60` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_61` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_62` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_63` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_64` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_65` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_66` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_67` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_68` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_69` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_70` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_71` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_72` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_73` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_74` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_75` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_76` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_77` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_78` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_79` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_80` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_81` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_82` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_83` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_84` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_85` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_86` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_87` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_88` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_89` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_90` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_91` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_92` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_93` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_94` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_95` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_96` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_97` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_98` LIKE `order_history_example`;
CREATE TABLE IF NOT EXISTS `order_history_99` LIKE `order_history_example`;

CREATE TABLE IF NOT EXISTS `order_detail_0` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_1` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_2` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_3` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_4` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_5` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_6` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_7` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_8` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_9` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_10` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_11` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_12` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_13` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_14` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_15` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_16` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_17` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_18` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_19` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_20` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_21` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_22` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_23` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_24` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_25` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_26` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_27` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_28` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_29` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_30` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_31` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_32` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_33` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_34` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_35` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_36` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_37` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_38` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_39` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_40` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_41` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_42` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_43` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_44` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_45` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_46` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_47` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_48` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_49` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_50` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_51` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_52` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_53` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_54` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_55` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_56` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_57` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_58` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_59` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_60` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_61` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_62` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_63` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_64` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_65` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_66` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_67` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_68` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_69` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_70` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_71` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_72` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_73` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_74` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_75` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_76` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_77` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_78` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_79` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_80` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_81` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_82` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_83` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_84` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_85` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_86` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_87` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_88` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_89` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_90` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_91` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_92` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_93` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_94` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_95` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_96` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_97` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_98` LIKE `order_detail_example`;
CREATE TABLE IF NOT EXISTS `order_detail_99` LIKE `order_detail_example`;

CREATE TABLE IF NOT EXISTS `deal_history_0` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_1` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_2` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_3` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_4` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_5` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_6` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_7` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_8` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_9` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_10` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_11` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_12` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_13` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_14` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_15` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_16` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_17` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_18` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_19` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_20` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_21` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_22` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_23` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_24` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_25` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_26` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_27` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_28` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_29` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_30` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_31` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_32` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_33` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_34` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_35` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_36` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_37` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_38` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_39` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_40` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_41` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_42` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_43` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_44` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_45` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_46` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_47` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_48` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_49` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_50` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_51` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_52` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_53` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_54` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_55` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_56` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_57` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_58` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_59` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_60` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_61` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_62` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_63` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_64` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_65` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_66` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_67` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_68` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_69` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_70` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_71` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_72` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_73` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_74` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_75` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_76` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_77` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_78` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_79` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_80` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_81` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_82` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_83` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_84` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_85` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_86` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_87` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_88` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_89` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_90` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_91` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_92` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_93` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_94` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_95` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_96` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_97` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_98` LIKE `deal_history_example`;
CREATE TABLE IF NOT EXISTS `deal_history_99` LIKE `deal_history_example`;

CREATE TABLE IF NOT EXISTS `user_deal_history_0` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_1` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_2` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_3` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_4` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_5` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_6` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_7` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_8` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_9` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_10` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_11` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_12` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_13` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_14` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_15` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_16` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_17` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_18` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_19` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_20` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_21` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_22` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_23` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_24` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_25` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_26` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_27` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_28` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_29` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_30` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_31` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_32` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_33` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_34` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_35` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_36` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_37` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_38` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_39` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_40` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_41` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_42` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_43` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_44` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_45` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_46` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_47` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_48` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_49` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_50` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_51` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_52` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_53` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_54` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_55` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_56` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_57` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_58` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_59` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_60` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_61` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_62` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_63` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_64` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_65` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_66` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_67` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_68` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_69` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_70` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_71` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_72` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_73` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_74` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_75` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_76` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_77` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_78` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_79` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_80` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_81` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_82` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_83` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_84` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_85` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_86` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_87` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_88` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_89` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_90` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_91` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_92` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_93` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_94` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_95` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_96` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_97` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_98` LIKE `user_deal_history_example`;
CREATE TABLE IF NOT EXISTS `user_deal_history_99` LIKE `user_deal_history_example`;

CREATE TABLE IF NOT EXISTS `stop_history_0` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_1` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_2` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_3` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_4` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_5` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_6` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_7` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_8` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_9` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_10` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_11` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_12` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_13` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_14` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_15` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_16` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_17` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_18` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_19` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_20` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_21` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_22` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_23` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_24` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_25` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_26` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_27` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_28` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_29` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_30` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_31` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_32` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_33` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_34` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_35` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_36` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_37` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_38` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_39` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_40` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_41` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_42` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_43` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_44` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_45` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_46` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_47` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_48` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_49` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_50` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_51` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_52` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_53` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_54` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_55` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_56` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_57` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_58` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_59` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_60` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_61` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_62` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_63` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_64` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_65` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_66` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_67` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_68` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_69` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_70` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_71` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_72` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_73` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_74` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_75` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_76` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_77` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_78` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_79` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_80` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_81` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_82` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_83` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_84` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_85` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_86` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_87` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_88` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_89` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_90` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_91` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_92` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_93` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_94` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_95` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_96` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_97` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_98` LIKE `stop_history_example`;
CREATE TABLE IF NOT EXISTS `stop_history_99` LIKE `stop_history_example`;
